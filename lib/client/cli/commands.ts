/** Every `runner-sessions` command, one line each: adding a command is its file and its line here (the help lists them by name). */
export { create } from './create.ts';
export { get } from './get.ts';
export { addJob } from './add-job.ts';
export { pause } from './pause.ts';
export { resume } from './resume.ts';
export { complete } from './complete.ts';
export { terminate } from './terminate.ts';
export { list } from './list.ts';
export { resumeByName } from './resume-by-name.ts';
export { history } from './history.ts';
export { acquire } from './acquire.ts';
export { heartbeat } from './heartbeat.ts';
export { exec } from './exec.ts';
export { restore } from './restore.ts';
export { operatorConsole } from './console.ts';
export { checkStore } from './check-store.ts';
