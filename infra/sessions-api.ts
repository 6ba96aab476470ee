import { fileURLToPath } from 'node:url';
import { Duration, Lazy, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, type HttpRoute, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Grant, type IGrantable, type IPrincipal, type IRole, type IUser } from 'aws-cdk-lib/aws-iam';
import { CfnPermission } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { readServiceConfig } from '#lib/domain/config.ts';
import type { Readers } from '#lib/domain/owner.ts';
import { RETENTION_DAYS_RANGE, readRetentionDays } from '#lib/domain/retention.ts';
import { LEASE_SWEEPER_ACCESS } from '#lib/http/route-table.ts';
import { LeaseBucket } from './lease-bucket.ts';
import { RouteFunction } from './route-function.ts';
import { RETENTION_SWEEPER_ACCESS, ROUTES, type RouteDefinition } from './routes.ts';
import { SessionBucket } from './session-bucket.ts';
import { SessionEvents } from './session-events.ts';
import { SessionsAlarms } from './sessions-alarms.ts';

/** Log levels the handlers' logger accepts. */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** What an operator tunes. Every property has a production default. */
export interface SessionsApiProps {
  /** Steady-state requests per second the API stage admits. @default 50 */
  readonly throttlingRateLimit?: number;
  /** Requests the API stage admits in a burst. @default 100 */
  readonly throttlingBurstLimit?: number;
  /** Retention of the function logs and the API access logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Most job IDs one session may hold (`MAX_JOBS_PER_SESSION`). @default 10,000 */
  readonly maxJobsPerSession?: number;
  /** Compare-and-swap attempts before a change answers 503 (`CAS_MAX_ATTEMPTS`). @default 8 */
  readonly casMaxAttempts?: number;
  /** First backoff ceiling between attempts, in ms (`CAS_BASE_DELAY_MS`). @default 10 */
  readonly casBaseDelayMs?: number;
  /** Largest backoff ceiling between attempts, in ms (`CAS_MAX_DELAY_MS`). @default 400 */
  readonly casMaxDelayMs?: number;
  /** Keys a filtered listing may examine per request (`LIST_SCAN_BUDGET`). @default 500 */
  readonly listScanBudget?: number;
  /**
   * How long a create's `Idempotency-Key` answers repeats with the same session
   * (`IDEMPOTENCY_WINDOW_SECONDS`). A lifecycle rule deletes the records a day
   * after the last whole day of the window. @default 86,400 (one day)
   */
  readonly idempotencyWindowSeconds?: number;
  /** Handler log level (`POWERTOOLS_LOG_LEVEL`). @default 'INFO' */
  readonly logLevel?: LogLevel;
  /**
   * What happens to the buckets and log groups when they leave the stack.
   * `RETAIN` keeps every session through `cdk destroy`.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Days a replaced session version stays restorable before S3 expires it; at most `retentionDays`, so that no
   * version of an ended session outlives it. @default 90, or `retentionDays` when that is shorter
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Retention (`RETENTION_DAYS`): a session ended (completed, terminated) for this many days is deleted, with its
   * versions and index entries, by S3 lifecycle rules (and the sweeper for what they cannot reach). 1–3650, or
   * `'forever'` to keep ended sessions (`RETENTION_DAYS` is then not set). A restore before then keeps the session;
   * its clock starts again at its next ending. @default 90
   */
  readonly retentionDays?: number | 'forever';
  /**
   * Operators (`OPERATOR_PRINCIPALS`): IAM role or user ARNs that may change, restore and adopt every session and
   * read all of them. A role names every session of it (a role's path is left out: callers present their role
   * without it). Add more with {@link SessionsApi.grantOperator}. @default none
   */
  readonly operators?: readonly string[];
  /**
   * Who may read and list sessions (`SESSION_READERS`): `'account'`, every caller the API admits; `'owner'`, only
   * a session's owner and the operators. @default 'account'
   */
  readonly readers?: Readers;
  /** Days S3 server access logs of the sessions bucket are kept. @default 365 */
  readonly accessLogExpirationDays?: number;
  /** Memory of each function, in MB (CPU scales with it). @default 512 */
  readonly memorySize?: number;
  /** Timeout of each function. @default 10 seconds */
  readonly timeout?: Duration;
  /** The 5xx alarm fires above this percentage of requests in 5 minutes. @default 1 */
  readonly serverErrorRatePercent?: number;
  /** Where alarms notify, e.g. an `SnsAction`. @default - no actions; alarms show in the console only */
  readonly alarmActions?: readonly IAlarmAction[];
  /** The routes to serve. @default ROUTES, the v1 API */
  readonly routes?: readonly RouteDefinition[];
  /** Directory with one handler module per route. @default the repository's `functions/` */
  readonly functionsDir?: string;
}

/** Seconds between lease sweeps: the schedule's rate, and how long a lease must have been expired to be swept. */
export const LEASE_SWEEP_SECONDS = 60;

/** Service name in logs and the `service` dimension of the handlers' metrics. */
export const SERVICE_NAME = 'runner-sessions';
/** CloudWatch namespace of the handlers' metrics. */
export const METRICS_NAMESPACE = 'RunnerSessions';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** One JSON object per request; `userArn` names the SigV4 caller. */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  sourceIp: '$context.identity.sourceIp',
  userArn: '$context.identity.userArn',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
  authorizerError: '$context.authorizer.error',
});

/**
 * The whole runner-sessions service: the sessions bucket, one Lambda function
 * per route, an HTTP API that requires SigV4 (IAM) on every route, and alarms.
 */
export class SessionsApi extends Construct {
  /** The sessions bucket and its access-log bucket. */
  readonly storage: SessionBucket;
  /** The HTTP API; IAM authorization is its default for every route. */
  readonly httpApi: HttpApi;
  /** The `$default` stage: throttling and access logs. */
  readonly stage: HttpStage;
  /** The API access log group, one JSON line per request. */
  readonly accessLogs: LogGroup;
  /** The function of each route, by route ID. */
  readonly functions: ReadonlyMap<string, RouteFunction>;
  /** The 5xx-rate and exhausted-CAS alarms. */
  readonly alarms: SessionsAlarms;
  /** The bucket of lease renewal records (no versions). */
  readonly leases: LeaseBucket;
  /** The scheduled function that pauses sessions whose lease expired. */
  readonly sweeper: RouteFunction;
  /** Its schedule: every minute. */
  readonly sweepSchedule: Rule;
  /** The session events: the announcer, its rule and dead letters, and the bus it publishes on. */
  readonly events: SessionEvents;
  /** The routes served, each with its function in {@link functions}. */
  readonly routes: readonly RouteDefinition[];
  /** The operators' owner ARNs: the `operators` prop's, then each principal granted with {@link grantOperator}. */
  readonly #operators: string[];

  constructor(scope: Construct, id: string, props: SessionsApiProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const retention = retentionOf(props);
    this.#operators = (props.operators ?? []).map(operatorOwner);

    this.storage = new SessionBucket(this, 'Storage', {
      removalPolicy,
      noncurrentVersionExpiration: Duration.days(retention.noncurrentVersionDays),
      ...(retention.days === undefined ? {} : { endedSessionExpiration: Duration.days(retention.days) }),
      accessLogExpiration: Duration.days(wholeDays('accessLogExpirationDays', props.accessLogExpirationDays ?? 365)),
      idempotencyRecordExpiration: Duration.days(
        idempotencyRecordDays(props.idempotencyWindowSeconds ?? readServiceConfig({}).idempotencyWindowSeconds),
      ),
      eventBridgeNotifications: true,
    });

    this.accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention, removalPolicy });
    this.httpApi = new HttpApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-api`,
      description: 'runner-sessions: session tracking for remote job runners (SigV4 on every route)',
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: positive('throttlingRateLimit', props.throttlingRateLimit ?? 50),
        burstLimit: positive('throttlingBurstLimit', props.throttlingBurstLimit ?? 100),
      },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      },
    });

    this.leases = new LeaseBucket(this, 'Leases', {
      removalPolicy,
      accessLogBucket: this.storage.accessLogBucket,
      // A day after their sessions: an entry never goes before the session it lists.
      ...(retention.days === undefined ? {} : { endedStatusEntryExpiration: Duration.days(retention.days + 1) }),
    });
    const buckets = { sessions: this.storage.bucket, leases: this.leases.bucket };
    const environment = {
      ...serviceEnvironment({ sessions: this.storage.bucket.bucketName, leases: this.leases.bucket.bucketName }, props),
      // Lazy: operators granted after construction count too.
      OPERATOR_PRINCIPALS: Lazy.string({ produce: () => [...new Set(this.#operators)].join(',') }),
    };
    const functionsDir = props.functionsDir ?? `${PROJECT_ROOT}/functions`;
    const functions = new Map<string, RouteFunction>();
    this.routes = props.routes ?? ROUTES;
    for (const route of this.routes) {
      const routeFunction = new RouteFunction(this, route.id, {
        entry: `${functionsDir}/${route.handler}.ts`,
        projectRoot: PROJECT_ROOT,
        description: `runner-sessions ${route.method} ${route.path}`,
        buckets,
        access: route.access,
        environment,
        memorySize: props.memorySize ?? 512,
        timeout: props.timeout ?? Duration.seconds(10),
        logRetention,
        removalPolicy,
      });
      const [httpRoute] = this.httpApi.addRoutes({
        path: route.path,
        methods: [route.method],
        integration: new HttpLambdaIntegration(`${route.id}Integration`, routeFunction.function),
      });
      scopeInvokeToMethod(httpRoute!, route);
      functions.set(route.id, routeFunction);
    }
    this.functions = functions;

    this.sweeper = new RouteFunction(this, 'LeaseSweeper', {
      entry: `${functionsDir}/sweep-leases.ts`,
      projectRoot: PROJECT_ROOT,
      description: 'runner-sessions lease sweeper: pauses sessions whose lease expired (every minute)',
      buckets,
      access: [...LEASE_SWEEPER_ACCESS, ...RETENTION_SWEEPER_ACCESS],
      environment,
      memorySize: props.memorySize ?? 512,
      // A sweep reads only lapsed leases; a minute is far more than one needs, and the next sweep picks up the rest.
      timeout: Duration.seconds(55),
      logRetention,
      removalPolicy,
    });
    this.sweepSchedule = new Rule(this, 'LeaseSweepSchedule', {
      description: 'Runs the lease sweeper every LEASE_SWEEP_SECONDS (60)',
      schedule: Schedule.rate(Duration.seconds(LEASE_SWEEP_SECONDS)),
      targets: [new LambdaFunction(this.sweeper.function, { retryAttempts: 0 })],
    });

    this.events = new SessionEvents(this, 'Events', {
      sessions: this.storage.bucket,
      leases: this.leases.bucket,
      entry: `${functionsDir}/announce-events.ts`,
      projectRoot: PROJECT_ROOT,
      environment,
      memorySize: props.memorySize ?? 512,
      removalPolicy,
      logRetention,
      alarmActions: props.alarmActions ?? [],
    });

    this.alarms = new SessionsAlarms(this, 'Alarms', {
      api: this.httpApi,
      metricsNamespace: METRICS_NAMESPACE,
      serviceName: SERVICE_NAME,
      serverErrorRatePercent: positive('serverErrorRatePercent', props.serverErrorRatePercent ?? 1),
      actions: props.alarmActions ?? [],
    });
  }

  /** The base URL of the API, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com/`. */
  get url(): string {
    return this.stage.url;
  }

  /**
   * Lets `grantee` call the routes a runner uses (open, read, list, append, change status, acquire, heartbeat,
   * history): `execute-api:Invoke` on those routes only, never on restore, an owner change or a route added later
   * unless it is marked for runners. What it may change is then the service's call: its own sessions.
   */
  grantRunner(grantee: IGrantable): Grant {
    return this.#grantInvoke(
      grantee,
      this.routes.filter((route) => route.runner === true),
    );
  }

  /**
   * Makes `grantee` an operator: `execute-api:Invoke` on every route, and its principal in `OPERATOR_PRINCIPALS`,
   * so that it may change, restore and adopt every session. `grantee` must be an IAM role (every session of it
   * operates) or user.
   * @throws when the grantee's principal is neither, so its ARN cannot be known here.
   */
  grantOperator(grantee: IGrantable): Grant {
    this.#operators.push(principalOwner(grantee.grantPrincipal, Stack.of(this).partition));
    return this.#grantInvoke(grantee, this.routes);
  }

  #grantInvoke(grantee: IGrantable, routes: readonly RouteDefinition[]): Grant {
    const grant = Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: routes.map((route) => this.invokeArn(route)),
    });
    if (!grant.success) throw new Error(`cannot grant ${grantee.grantPrincipal}: it has no policy to add the grant to`);
    return grant;
  }

  /**
   * The `execute-api:Invoke` resource of `route` on the stage: a session ID (`{id}`, exactly 32 characters) as 32
   * single-character wildcards and no `*`, so that the ARN of one route matches no path of another.
   */
  invokeArn(route: Pick<RouteDefinition, 'method' | 'path'>): string {
    const path = route.path.replaceAll('{id}', '?'.repeat(32));
    if (path.includes('{')) throw new Error(`${route.method} ${route.path}: only {id} can be granted, as 32 single-character wildcards`);
    return Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.httpApi.apiId,
      resourceName: `${this.stage.stageName}/${route.method}${path}`,
    });
  }
}

/** The retention in days (undefined: forever) and the days replaced versions are kept, checked against each other. */
function retentionOf(props: SessionsApiProps): { days: number | undefined; noncurrentVersionDays: number } {
  const setting = props.retentionDays ?? 90;
  let days: number | undefined;
  if (setting !== 'forever') {
    const { min, max } = RETENTION_DAYS_RANGE;
    if (!(typeof setting === 'number' && Number.isSafeInteger(setting) && setting >= min && setting <= max))
      throw new Error(
        `retentionDays must be a whole number of days from ${min} to ${max}, or 'forever'; got ${typeof setting === 'string' ? JSON.stringify(setting) : setting}`,
      );
    // The handlers' own parser reads it back, so that a value the synth accepts is one the functions accept.
    days = readRetentionDays({ RETENTION_DAYS: String(setting) });
  }
  const noncurrentVersionDays = wholeDays(
    'noncurrentVersionExpirationDays',
    props.noncurrentVersionExpirationDays ?? Math.min(90, days ?? 90),
  );
  if (days !== undefined && noncurrentVersionDays > days) {
    throw new Error(
      `noncurrentVersionExpirationDays (${noncurrentVersionDays}) must not exceed retentionDays (${days}): the replaced versions of an ended session would outlive its retention`,
    );
  }
  const idempotencyDays = Math.ceil((props.idempotencyWindowSeconds ?? readServiceConfig({}).idempotencyWindowSeconds) / 86_400);
  if (days !== undefined && idempotencyDays > days) {
    throw new Error(
      `idempotencyWindowSeconds (${idempotencyDays} days) must not exceed retentionDays (${days}): an idempotency record would outlive the session it names`,
    );
  }
  return { days, noncurrentVersionDays };
}

const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[^/]+\/)*([^/]+)$/;
const USER_ARN = /^arn:aws[a-z-]*:iam::\d{12}:user\/(?:[^/]+\/)*[^/]+$/;

/**
 * The owner ARN an operator named by `arn` acts as (lib/domain/owner.ts `ownerOfPrincipal`): a role without its
 * path, as callers of the role present it; a user as it is. Unresolved tokens pass as they are.
 * @throws on anything else, or an ARN with a comma (OPERATOR_PRINCIPALS is comma-separated).
 */
export function operatorOwner(arn: string): string {
  if (Token.isUnresolved(arn)) return arn;
  if (arn.includes(',')) throw new Error(`operators: ${arn} holds a comma, which OPERATOR_PRINCIPALS cannot carry`);
  const role = ROLE_ARN.exec(arn);
  if (role !== null) return `arn:${role[1]}:iam::${role[2]}:role/${role[3]}`;
  if (USER_ARN.test(arn)) return arn;
  throw new Error(`operators: ${JSON.stringify(arn)} is not an IAM role or user ARN (arn:aws:iam::123456789012:role/NAME or user/NAME)`);
}

/** The owner ARN of a grantee's principal: a role's (without its path) or a user's. */
function principalOwner(principal: IPrincipal, partition: string): string {
  if ('roleArn' in principal && 'roleName' in principal) {
    const role = principal as IRole;
    if (!Token.isUnresolved(role.roleArn)) return operatorOwner(role.roleArn);
    return `arn:${partition}:iam::${role.env.account}:role/${role.roleName}`;
  }
  if ('userArn' in principal && 'userName' in principal) return operatorOwner((principal as IUser).userArn);
  throw new Error(
    `grantOperator needs an IAM role or user, whose ARN the service compares callers with; ${principal} is neither: name its role or user ARN in the operators prop instead`,
  );
}

/** The handlers' environment; validated here with the handlers' own parser, so a bad value fails the synth, not a cold start. */
export function serviceEnvironment(buckets: { sessions: string; leases: string }, props: SessionsApiProps = {}): Record<string, string> {
  const defaults = readServiceConfig({});
  const tuning = {
    MAX_JOBS_PER_SESSION: String(props.maxJobsPerSession ?? defaults.maxJobsPerSession),
    CAS_MAX_ATTEMPTS: String(props.casMaxAttempts ?? defaults.casMaxAttempts),
    CAS_BASE_DELAY_MS: String(props.casBaseDelayMs ?? defaults.casBaseDelayMs),
    CAS_MAX_DELAY_MS: String(props.casMaxDelayMs ?? defaults.casMaxDelayMs),
    LIST_SCAN_BUDGET: String(props.listScanBudget ?? defaults.listScanBudget),
    IDEMPOTENCY_WINDOW_SECONDS: String(props.idempotencyWindowSeconds ?? defaults.idempotencyWindowSeconds),
    LEASE_SWEEP_SECONDS: String(LEASE_SWEEP_SECONDS),
  };
  readServiceConfig(tuning);
  const readers = props.readers ?? 'account';
  if (readers !== 'account' && readers !== 'owner') throw new Error(`readers must be 'account' or 'owner', got ${JSON.stringify(readers)}`);
  const retention = props.retentionDays ?? 90;
  return {
    SESSIONS_BUCKET: buckets.sessions,
    LEASES_BUCKET: buckets.leases,
    ...tuning,
    SESSION_READERS: readers,
    ...(retention === 'forever' ? {} : { RETENTION_DAYS: String(retention) }),
    POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
  };
}

/**
 * The integration lets API Gateway invoke the function on the route's path
 * with any method; only the route's own method may (`<api>/<stage>/<METHOD>/<path>`).
 */
function scopeInvokeToMethod(httpRoute: HttpRoute, route: RouteDefinition): void {
  const permissions = httpRoute.node.findAll().filter((construct): construct is CfnPermission => construct instanceof CfnPermission);
  if (permissions.length !== 1)
    throw new Error(`expected one invoke permission for ${route.method} ${route.path}, found ${permissions.length}`);
  permissions[0]!.sourceArn = Stack.of(httpRoute).formatArn({
    service: 'execute-api',
    resource: httpRoute.httpApi.apiId,
    resourceName: `*/${route.method}${route.path}`,
  });
}

/** Whole days after which S3 may delete an idempotency record: the window, rounded up, and a day to spare (lifecycle runs once a day). */
function idempotencyRecordDays(windowSeconds: number): number {
  if (!(Number.isSafeInteger(windowSeconds) && windowSeconds > 0)) {
    throw new Error(`idempotencyWindowSeconds must be a positive whole number of seconds, got ${windowSeconds}`);
  }
  return Math.ceil(windowSeconds / 86_400) + 1;
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`${name} must be a positive number, got ${value}`);
  return value;
}

function wholeDays(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value > 0)) throw new Error(`${name} must be a positive whole number of days, got ${value}`);
  return value;
}
