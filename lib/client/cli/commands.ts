/** Every `runner-sessions` command, one line each: adding a command is its file and its line here (the help lists them by name). */

export { acquire } from './acquire.ts';
export { addJob } from './add-job.ts';
export { adopt } from './adopt.ts';
export { checkStore } from './check-store.ts';
export { complete } from './complete.ts';
export { operatorConsole } from './console.ts';
export { create } from './create.ts';
export { exec } from './exec.ts';
export { exportCommand } from './export.ts';
export { get } from './get.ts';
export { heartbeat } from './heartbeat.ts';
export { history } from './history.ts';
export { importCommand } from './import.ts';
export { list } from './list.ts';
export { pause } from './pause.ts';
export { restore } from './restore.ts';
export { resume } from './resume.ts';
export { resumeByName } from './resume-by-name.ts';
export { terminate } from './terminate.ts';
