/**
 * The routes of the HTTP API and the handler module that serves each one
 * (`functions/<handler>.ts`, exporting `handler`). The CDK app deploys one
 * function per entry; the local server serves the same modules.
 */
export const API_ROUTES = [
  { routeKey: 'POST /sessions', handler: 'create-session' },
  { routeKey: 'GET /sessions', handler: 'list-sessions' },
  { routeKey: 'GET /sessions/{id}', handler: 'get-session' },
  { routeKey: 'PATCH /sessions/{id}', handler: 'set-status' },
  { routeKey: 'POST /sessions/{id}/jobs', handler: 'add-job' },
  { routeKey: 'GET /sessions/{id}/history', handler: 'session-history' },
  { routeKey: 'POST /sessions/{id}/restore', handler: 'restore-session' },
] as const;

export type ApiRoute = (typeof API_ROUTES)[number];
