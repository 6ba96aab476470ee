import { statusChange } from './status-change.ts';

export const terminate = statusChange(
  'terminate',
  'terminated',
  'terminate a session (final)',
  'Marks the session terminated (abandoned). Final: it cannot be resumed or take more jobs.',
);
