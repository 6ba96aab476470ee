import { statusChange } from './status-change.ts';

export const pause = statusChange(
  'pause',
  'paused',
  'pause a session (the runner lost its connection)',
  'Moves an active session to paused; jobs cannot be added until it is resumed.\nWith --epoch, the lease of that epoch is released.',
);
