import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { SESSIONS_PREFIX } from '#lib/domain/ids.ts';
import { ENDED_TAG } from '#lib/domain/retention.ts';
import { IDEMPOTENCY_PREFIX } from '#lib/sessions/idempotency.ts';
import { NAMES_PREFIX } from '#lib/sessions/name-index.ts';

/** Properties of {@link SessionBucket}. */
export interface SessionBucketProps {
  /** What happens to both buckets and their policies when they leave the stack. */
  readonly removalPolicy: RemovalPolicy;
  /** How long a replaced or deleted session version stays restorable. */
  readonly noncurrentVersionExpiration: Duration;
  /** How long S3 server access log objects are kept. */
  readonly accessLogExpiration: Duration;
  /**
   * When S3 deletes an idempotency record. The service itself stops honouring
   * a record after its window (`IDEMPOTENCY_WINDOW_SECONDS`); this only clears
   * them away, so it must be longer than the window.
   */
  readonly idempotencyRecordExpiration: Duration;
  /**
   * How long a session stays once it ended (retention): its ending version, tagged at the write, expires this long
   * after it was written, and is then deleted a day later with the versions before it gone already (none is kept
   * longer than `noncurrentVersionExpiration`, which must not exceed this). @default kept forever
   */
  readonly endedSessionExpiration?: Duration;
  /** S3 sends an event to the account's default EventBridge bus for every object change. @default false */
  readonly eventBridgeNotifications?: boolean;
}

/**
 * The bucket that holds one object per session (`sessions/<id>.json`), the
 * name index (`names/`) and the idempotency records of creates
 * (`idempotency/`, expired by a lifecycle rule, replaced versions within a day), and the bucket that receives
 * its server access logs.
 *
 * Private, TLS only, SSE-S3, versioned (history and restore read old versions),
 * and it refuses any `PutObject` under those three prefixes that carries
 * neither `If-None-Match` nor `If-Match`, so no writer can blindly overwrite a
 * session, an index entry or an idempotency record.
 */
export class SessionBucket extends Construct {
  /** The sessions bucket. */
  readonly bucket: Bucket;
  /** The bucket that receives the sessions bucket's server access logs. */
  readonly accessLogBucket: Bucket;

  constructor(scope: Construct, id: string, props: SessionBucketProps) {
    super(scope, id);
    // Log delivery through a bucket policy, not ACLs, whatever the app's feature flags: ACLs stay disabled.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    this.accessLogBucket = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Server access logs can only be delivered to SSE-S3 buckets.
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: props.accessLogExpiration }],
      removalPolicy: props.removalPolicy,
    });

    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'sessions-bucket/',
      lifecycleRules: [
        // A delete marker left with no version under it (a session or an entry gone with all its versions) goes too.
        {
          id: 'ExpireNoncurrentVersions',
          noncurrentVersionExpiration: props.noncurrentVersionExpiration,
          expiredObjectDeleteMarker: true,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        // Retention: the version that ended a session (tagged by its write) expires, and a day after it is no longer
        // current it is deleted. A restore that replaces it removes its tag: it stays as long as any replaced version.
        ...(props.endedSessionExpiration === undefined
          ? []
          : [
              {
                id: 'ExpireEndedSessions',
                prefix: SESSIONS_PREFIX,
                tagFilters: { [ENDED_TAG.key]: ENDED_TAG.value },
                expiration: props.endedSessionExpiration,
                noncurrentVersionExpiration: Duration.days(1),
              },
            ]),
        // A replaced or expired record is of no use: its noncurrent version goes within a day, not after the sessions' days.
        {
          id: 'ExpireIdempotencyRecords',
          prefix: IDEMPOTENCY_PREFIX,
          expiration: props.idempotencyRecordExpiration,
          noncurrentVersionExpiration: Duration.days(1),
        },
      ],
      removalPolicy: props.removalPolicy,
    });

    if (props.eventBridgeNotifications) {
      // Set on the bucket itself: the L2 `eventBridgeEnabled` would add a custom resource and its Lambda function.
      (this.bucket.node.defaultChild as CfnBucket).notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };
    }

    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DenyUnconditionalSessionWrites',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [SESSIONS_PREFIX, NAMES_PREFIX, IDEMPOTENCY_PREFIX].map((prefix) => this.bucket.arnForObjects(`${prefix}*`)),
        // Null conditions in one statement are ANDed: deny only when both headers are absent.
        // No s3:ObjectCreationOperation exemption: sessions are never uploaded in parts.
        conditions: { Null: { 's3:if-none-match': 'true', 's3:if-match': 'true' } },
      }),
    );

    // A retained bucket keeps its guards (TLS only, conditional writes) after the stack is gone.
    this.bucket.policy?.applyRemovalPolicy(props.removalPolicy);
    this.accessLogBucket.policy?.applyRemovalPolicy(props.removalPolicy);
  }
}
