import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { RENEWALS_PREFIX } from '#lib/domain/lease.ts';
import { isTerminal, SESSION_STATUSES } from '#lib/domain/session.ts';
import { OWNERS_PREFIX } from '#lib/sessions/owner-index.ts';
import { INDEXES_PREFIX, STATUS_PREFIX, statusIndexPrefix } from '#lib/sessions/status-index.ts';
import { ANNOUNCED_PREFIX } from '#lib/workers/announcer.ts';

/** Properties of {@link LeaseBucket}. */
export interface LeaseBucketProps {
  readonly removalPolicy: RemovalPolicy;
  /** Where its server access logs go (the sessions bucket's log bucket). */
  readonly accessLogBucket: IBucket;
  /** When S3 deletes a renewal record nobody rewrote or deleted (its lease long over). @default 7 days */
  readonly abandonedRecordExpiration?: Duration;
  /**
   * Retention: when S3 deletes the status index entries of ended sessions (`status/completed/`,
   * `status/terminated/`), made at the ending; a day later than the sessions, so that no entry goes before its
   * session. @default kept forever
   */
  readonly endedStatusEntryExpiration?: Duration;
}

/**
 * The bucket of lease renewal records (`leases/<id>/<epoch>-<seconds>.json`)
 * and of the announcer's cursors (`announced/<id>.json`, one per session),
 * which heartbeats rewrite every few seconds. It keeps no versions, so a day of
 * heartbeats leaves one small object per held session instead of thousands of
 * noncurrent versions; the records are soft state (the session's lease is the
 * authority), so nothing there needs an audit trail.
 *
 * Private, TLS only, SSE-S3, and it refuses any `PutObject` under `leases/`
 * or `announced/` that carries neither `If-None-Match` nor `If-Match`.
 */
export class LeaseBucket extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: LeaseBucketProps) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: 'leases-bucket/',
      lifecycleRules: [
        {
          id: 'ExpireAbandonedRenewals',
          prefix: RENEWALS_PREFIX,
          expiration: props.abandonedRecordExpiration ?? Duration.days(7),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        ...(props.endedStatusEntryExpiration === undefined
          ? []
          : SESSION_STATUSES.filter(isTerminal).map((status) => ({
              id: `Expire${status[0]!.toUpperCase()}${status.slice(1)}StatusEntries`,
              prefix: statusIndexPrefix(status),
              expiration: props.endedStatusEntryExpiration,
            }))),
      ],
      removalPolicy: props.removalPolicy,
    });
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DenyUnconditionalRenewalWrites',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [RENEWALS_PREFIX, ANNOUNCED_PREFIX, STATUS_PREFIX, OWNERS_PREFIX, INDEXES_PREFIX].map((prefix) =>
          this.bucket.arnForObjects(`${prefix}*`),
        ),
        conditions: { Null: { 's3:if-none-match': 'true', 's3:if-match': 'true' } },
      }),
    );
    this.bucket.policy?.applyRemovalPolicy(props.removalPolicy);
  }
}
