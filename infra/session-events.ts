import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IAlarmAction, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { EventBus, Match, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IDestination } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SESSIONS_PREFIX } from '#lib/domain/ids.ts';
import type { PrefixAccess } from '#lib/http/route-table.ts';
import { ANNOUNCED_PREFIX } from '#lib/workers/announcer.ts';
import { RouteFunction } from './route-function.ts';

/** The S3 access of the announcer: read one session's versions, read and move its cursor by compare-and-swap. */
export const ANNOUNCER_ACCESS: readonly PrefixAccess[] = [
  {
    prefix: SESSIONS_PREFIX,
    objectActions: ['s3:GetObject', 's3:GetObjectVersion'],
    listActions: ['s3:ListBucketVersions'],
    listedPrefix: `${SESSIONS_PREFIX}*.json`,
  },
  {
    bucket: 'leases',
    prefix: ANNOUNCED_PREFIX,
    objectActions: ['s3:GetObject'],
    writes: ['create', 'replace'],
    tellsMissingKeys: true,
    objectNames: 'one announced cursor per session, named by its random ID',
  },
];

/** Properties of {@link SessionEvents}. */
export interface SessionEventsProps {
  /** The sessions bucket (versioned); its EventBridge notifications must be on. */
  readonly sessions: IBucket;
  /** The bucket of the announced cursors (`announced/`). */
  readonly leases: IBucket;
  /** The announcer's handler module. */
  readonly entry: string;
  readonly projectRoot: string;
  /** The service environment; `EVENTS_BUS_NAME` is added. */
  readonly environment: Record<string, string>;
  readonly memorySize: number;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: RetentionDays;
  /** Where the dead-letter alarm notifies. */
  readonly alarmActions: readonly IAlarmAction[];
}

/**
 * The session events: S3 "Object Created" events of `sessions/` on the
 * default bus run the announcer, which publishes `runner-sessions` events to
 * the service's own bus. One announcer instance at a time keeps each
 * session's events in order and repeats few; what fails after every retry
 * lands in an encrypted dead-letter queue, which alarms.
 */
export class SessionEvents extends Construct {
  /** The bus the session events are published on; subscribe with rules on it. */
  readonly bus: EventBus;
  /** The announcer function. */
  readonly announcer: RouteFunction;
  /** The rule on the default bus that runs it on session writes. */
  readonly rule: Rule;
  /** Notifications the rule could not deliver, and invocations that failed every retry. */
  readonly deadLetters: Queue;
  /** Fires as soon as the dead-letter queue holds a message. */
  readonly deadLetterAlarm: Alarm;

  constructor(scope: Construct, id: string, props: SessionEventsProps) {
    super(scope, id);
    this.bus = new EventBus(this, 'Bus', { description: 'runner-sessions: one event per announced session change' });

    this.deadLetters = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy,
    });
    Validations.of(this.deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the announcer (its rule target and its asynchronous invocations).',
    });

    // The destination's send permission goes into the role's one inline policy below, not a policy of its own.
    const onFailure: IDestination = { bind: () => ({ destination: this.deadLetters.queueArn }) };
    this.announcer = new RouteFunction(this, 'Announcer', {
      entry: props.entry,
      projectRoot: props.projectRoot,
      description: 'runner-sessions announcer: publishes the events of session writes to the session events bus',
      buckets: { sessions: props.sessions, leases: props.leases },
      access: ANNOUNCER_ACCESS,
      statements: [
        new PolicyStatement({
          sid: 'PublishSessionEvents',
          effect: Effect.ALLOW,
          actions: ['events:PutEvents'],
          resources: [this.bus.eventBusArn],
        }),
        new PolicyStatement({
          sid: 'SendFailedInvocations',
          effect: Effect.ALLOW,
          actions: ['sqs:SendMessage'],
          resources: [this.deadLetters.queueArn],
        }),
      ],
      environment: { ...props.environment, EVENTS_BUS_NAME: this.bus.eventBusName },
      memorySize: props.memorySize,
      // One run reads at most ANNOUNCE_DEPTH (100) versions; several runs may follow when a session was busy.
      timeout: Duration.seconds(60),
      // Runs of one session one after another: events in order, and few repeated by concurrent runs.
      reservedConcurrentExecutions: 1,
      onFailure,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    this.rule = new Rule(this, 'SessionWrites', {
      description: 'Runs the announcer on every write of a session object',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [props.sessions.bucketName] }, object: { key: Match.prefix(SESSIONS_PREFIX) } },
      },
      targets: [
        new LambdaFunction(this.announcer.function, {
          deadLetterQueue: this.deadLetters,
          retryAttempts: 8,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });

    this.deadLetterAlarm = new Alarm(this, 'DeadLettersAlarm', {
      alarmDescription: 'Session events were not announced after every retry: see the announcer dead-letter queue',
      metric: this.deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.deadLetterAlarm.addAlarmAction(...props.alarmActions);
  }
}
