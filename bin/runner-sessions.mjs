#!/usr/bin/env node
// Plain JavaScript so that an old Node reads this far and says what it needs, instead of failing on TypeScript syntax.
import { createRequire } from 'node:module';

createRequire(import.meta.url)('../scripts/require-node.cjs').requireNode('runner-sessions');
await import('./runner-sessions.ts');
