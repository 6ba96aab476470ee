import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, type HttpRoute, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { CfnPermission } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { readServiceConfig } from '#lib/domain/config.ts';
import { LEASE_SWEEPER_ACCESS } from '#lib/http/route-table.ts';
import { LeaseBucket } from './lease-bucket.ts';
import { RouteFunction } from './route-function.ts';
import { ROUTES, type RouteDefinition } from './routes.ts';
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
  /** Days a replaced session version stays restorable before S3 expires it. @default 90 */
  readonly noncurrentVersionExpirationDays?: number;
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

  constructor(scope: Construct, id: string, props: SessionsApiProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    this.storage = new SessionBucket(this, 'Storage', {
      removalPolicy,
      noncurrentVersionExpiration: Duration.days(wholeDays('noncurrentVersionExpirationDays', props.noncurrentVersionExpirationDays ?? 90)),
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

    this.leases = new LeaseBucket(this, 'Leases', { removalPolicy, accessLogBucket: this.storage.accessLogBucket });
    const buckets = { sessions: this.storage.bucket, leases: this.leases.bucket };
    const environment = serviceEnvironment({ sessions: this.storage.bucket.bucketName, leases: this.leases.bucket.bucketName }, props);
    const functionsDir = props.functionsDir ?? `${PROJECT_ROOT}/functions`;
    const functions = new Map<string, RouteFunction>();
    for (const route of props.routes ?? ROUTES) {
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
      access: LEASE_SWEEPER_ACCESS,
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
  return {
    SESSIONS_BUCKET: buckets.sessions,
    LEASES_BUCKET: buckets.leases,
    ...tuning,
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
