/**
 * The zod build the service uses: `zod/mini`, with the English messages that
 * the full build loads on its own (without them every issue reads "Invalid input").
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
