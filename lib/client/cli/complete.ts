import { statusChange } from './status-change.ts';

export const complete = statusChange(
  'complete',
  'completed',
  'complete a session (final)',
  'Marks the session completed. Final: it cannot be resumed or take more jobs.',
);
