import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { App, CfnElement, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks, NagPack } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AccessBucket, ROUTES, type RouteDefinition } from '../../infra/routes.ts';
import { defineSessionsApp, SessionsStack, type SessionsStackProps } from '../../infra/sessions-stack.ts';

const ROOT = new URL('../../', import.meta.url);
const CDK_CONTEXT = JSON.parse(readFileSync(new URL('cdk.json', ROOT), 'utf8')).context as Record<string, unknown>;

type Json = Record<string, any>;

interface Synthesized {
  app: App;
  stack: SessionsStack;
  template: Template;
  resources: Record<string, Json>;
}

/** The app as `cdk synth` builds it (cdk.json context, cdk-nag registered); esbuild runs only with `bundle`. */
function synthesize(props: SessionsStackProps = {}, { bundle = false } = {}): Synthesized {
  const app = new App({
    // Bundling on: the CLI also asks for asset metadata, which names each function's bundle directory.
    context: { ...CDK_CONTEXT, ...(bundle ? { 'aws:cdk:enable-asset-metadata': true } : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const stack = defineSessionsApp(app, props);
  const template = Template.fromStack(stack);
  return { app, stack, template, resources: template.toJSON().Resources };
}

function logicalId(construct: IConstruct): string {
  const element = construct.node.defaultChild ?? construct;
  if (!CfnElement.isCfnElement(element)) throw new Error(`${construct.node.path} has no CloudFormation element`);
  return element.stack.resolve(element.logicalId) as string;
}

function ofType(resources: Record<string, Json>, type: string): [string, Json][] {
  return Object.entries(resources).filter(([, resource]) => resource.Type === type);
}

/** Follows route → integration → function in the template. */
function functionIdOfRoute(resources: Record<string, Json>, routeKey: string): string {
  const [, route] = ofType(resources, 'AWS::ApiGatewayV2::Route').find(([, r]) => r.Properties.RouteKey === routeKey) ?? [];
  if (!route) throw new Error(`no route ${routeKey}`);
  const integrationId = route.Properties.Target['Fn::Join'][1][1].Ref as string;
  return resources[integrationId]!.Properties.IntegrationUri['Fn::GetAtt'][0] as string;
}

const ROUTE_FUNCTIONS = {
  'POST /sessions': { id: 'CreateSession', handler: 'create-session' },
  'GET /sessions/{id}': { id: 'GetSession', handler: 'get-session' },
  'POST /sessions/{id}/jobs': { id: 'AddJob', handler: 'add-job' },
  'PATCH /sessions/{id}': { id: 'SetStatus', handler: 'set-status' },
  'GET /sessions': { id: 'ListSessions', handler: 'list-sessions' },
  'GET /sessions/{id}/history': { id: 'SessionHistory', handler: 'session-history' },
  'POST /sessions/{id}/restore': { id: 'RestoreSession', handler: 'restore-session' },
  'POST /sessions/{id}/owner': { id: 'AdoptSession', handler: 'adopt-session' },
  'POST /sessions/{id}/lease': { id: 'AcquireLease', handler: 'acquire-lease' },
  'POST /sessions/{id}/heartbeat': { id: 'Heartbeat', handler: 'heartbeat' },
} as const;
type RouteKey = keyof typeof ROUTE_FUNCTIONS;
const ROUTE_KEYS = Object.keys(ROUTE_FUNCTIONS) as RouteKey[];

describe('SessionsApi, as synthesized with the defaults', () => {
  let synth: Synthesized;
  let bucketId: string;
  let bucketArn: Json;
  let sessionObjects: Json;
  let leasesId: string;
  let leasesArn: Json;

  beforeAll(() => {
    synth = synthesize();
    bucketId = logicalId(synth.stack.service.storage.bucket);
    bucketArn = { 'Fn::GetAtt': [bucketId, 'Arn'] };
    sessionObjects = { 'Fn::Join': ['', [bucketArn, '/sessions/*']] };
    leasesId = logicalId(synth.stack.service.leases.bucket);
    leasesArn = { 'Fn::GetAtt': [leasesId, 'Arn'] };
  });

  describe('HTTP API', () => {
    it('serves exactly the v1 routes, each from its own function', () => {
      const routeKeys = ofType(synth.resources, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey);
      expect(routeKeys.sort()).toEqual([...ROUTE_KEYS].sort());

      for (const routeKey of ROUTE_KEYS) {
        const expected = synth.stack.service.functions.get(ROUTE_FUNCTIONS[routeKey].id)!;
        expect(functionIdOfRoute(synth.resources, routeKey), routeKey).toBe(logicalId(expected.function));
      }
    });

    it('requires SigV4 (AWS_IAM) on every route', () => {
      const routes = ofType(synth.resources, 'AWS::ApiGatewayV2::Route');
      expect(routes.length).toBeGreaterThan(0);
      for (const [, route] of routes) {
        expect(route.Properties.AuthorizationType, route.Properties.RouteKey).toBe('AWS_IAM');
      }
    });

    it('throttles the default stage and writes JSON access logs to a retained log group', () => {
      const accessLogsId = logicalId(synth.stack.service.accessLogs);
      synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': [accessLogsId, 'Arn'] },
          Format: Match.serializedJson(
            Match.objectLike({ requestId: '$context.requestId', status: '$context.status', userArn: '$context.identity.userArn' }),
          ),
        },
      });
      expect(synth.resources[accessLogsId]).toMatchObject({ Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Retain' });
    });

    it('outputs the API URL and the bucket name', () => {
      const outputs = synth.template.toJSON().Outputs;
      expect(outputs.BucketName.Value).toEqual({ Ref: bucketId });
      expect(JSON.stringify(outputs.ApiUrl.Value)).toContain(logicalId(synth.stack.service.httpApi));
      expect(JSON.stringify(outputs.ApiUrl.Value)).toContain('.execute-api.');
    });
  });

  describe('functions', () => {
    it('runs every function (the routes and the lease sweeper) on Node.js 24, arm64, with source maps, its own log group and the service environment', () => {
      const functions = ofType(synth.resources, 'AWS::Lambda::Function');
      const sweeperId = logicalId(synth.stack.service.sweeper.function);
      const announcerId = logicalId(synth.stack.service.events.announcer.function);
      expect(functions.map(([id]) => id).sort()).toEqual(
        [...ROUTE_KEYS.map((key) => functionIdOfRoute(synth.resources, key)), sweeperId, announcerId].sort(),
      );
      const logGroupIds = new Set<string>();
      for (const [id, fn] of functions) {
        expect(fn.Properties, id).toMatchObject({
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
          MemorySize: 512,
          // A sweep may examine many lapsed leases: it gets most of its minute; an announcement may take several runs.
          Timeout: id === sweeperId ? 55 : id === announcerId ? 60 : 10,
          Environment: {
            Variables: {
              SESSIONS_BUCKET: { Ref: bucketId },
              LEASES_BUCKET: { Ref: leasesId },
              LEASE_SWEEP_SECONDS: '60',
              NODE_OPTIONS: '--enable-source-maps',
              MAX_JOBS_PER_SESSION: '10000',
              CAS_MAX_ATTEMPTS: '8',
              CAS_BASE_DELAY_MS: '10',
              CAS_MAX_DELAY_MS: '400',
              LIST_SCAN_BUDGET: '500',
              IDEMPOTENCY_WINDOW_SECONDS: '86400',
              SESSION_READERS: 'account',
              OPERATOR_PRINCIPALS: '',
              RETENTION_DAYS: '90',
              POWERTOOLS_SERVICE_NAME: 'runner-sessions',
              POWERTOOLS_METRICS_NAMESPACE: 'RunnerSessions',
              POWERTOOLS_LOG_LEVEL: 'INFO',
            },
          },
        });
        const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
        expect(synth.resources[logGroupId], id).toMatchObject({ Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Retain' });
        logGroupIds.add(logGroupId);
      }
      expect(logGroupIds.size).toBe(functions.length);
    });
  });

  describe('least privilege', () => {
    // `leases/`, `status/`, `owners/`, `indexes/` and `announced/` lie in the leases bucket (soft state); every other prefix in the sessions bucket.
    const inLeases = (prefix: string) =>
      ['leases/', 'status/', 'owners/', 'indexes/', 'announced/'].some((soft) => prefix.startsWith(soft));
    const objects = (prefix: string) => ({ 'Fn::Join': ['', [inLeases(prefix) ? leasesArn : bucketArn, `/${prefix}*`]] });
    const resources = (prefixes: string[]) => (prefixes.length === 1 ? objects(prefixes[0]!) : prefixes.map(objects));
    const objectAccess = (actions: string | string[], ...prefixes: string[]) => ({
      Effect: 'Allow',
      Action: actions,
      Resource: resources(prefixes.length === 0 ? ['sessions/'] : prefixes),
    });
    // S3 sets s3:if-none-match / s3:if-match only when the header is sent: each write kind needs its own header and not the other.
    const creates = (...prefixes: string[]) => ({
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: resources(prefixes),
      Condition: { Null: { 's3:if-none-match': 'false', 's3:if-match': 'true' } },
    });
    const replaces = (...prefixes: string[]) => ({
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: resources(prefixes.length === 0 ? ['sessions/'] : prefixes),
      Condition: { Null: { 's3:if-match': 'false', 's3:if-none-match': 'true' } },
    });
    const listAccess = (listedPrefix: string, action: string | string[] = 's3:ListBucket') => ({
      Effect: 'Allow',
      Action: action,
      Resource: inLeases(listedPrefix) ? leasesArn : bucketArn,
      Condition: { StringLike: { 's3:prefix': listedPrefix } },
    });
    // A 403 on GetObject is followed by one listing of exactly that key: a missing session answers 404, with no bucket-wide listing.
    const probeKeys = (prefix = 'sessions/') => listAccess(`${prefix}*.json`);
    // A renewal record is read (a missing one told by listing its key) wherever a held session's lease is shown or checked.
    const readsRenewals = () => objectAccess('s3:GetObject', 'leases/', 'sessions/');
    // Records are deleted as the service deletes them, without If-Match (a conditional delete is no use the service makes).
    const deletes = (...prefixes: string[]) => ({
      ...objectAccess('s3:DeleteObject', ...prefixes),
      Condition: { Null: { 's3:if-match': 'true' } },
    });
    // Ending or superseding a lease deletes that session's records: one listing of leases/<id>/, one DeleteObject each;
    // a change of status deletes the old status's index entry (beside the records' delete) and creates the new one's.
    const prunesRenewalsAndMovesStatus = () => [deletes('leases/', 'status/'), listAccess('leases/*/'), creates('status/')];
    // Retention: the write that ends a session sets the ended tag, and that tag only (its PutObject's Tagging needs s3:PutObjectTagging);
    // the ended tag is removed only from a version carrying it.
    const setsEndedTag = (action: string) => ({
      ...objectAccess(action),
      Condition: {
        StringEquals: { 's3:RequestObjectTag/runner-sessions:ended': 'true' },
        'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': ['runner-sessions:ended'] },
      },
    });
    const removesEndedTag = () => ({
      ...objectAccess('s3:DeleteObjectVersionTagging'),
      Condition: { StringEquals: { 's3:ExistingObjectTag/runner-sessions:ended': 'true' } },
    });
    const expectedS3Statements: Record<RouteKey, () => Json[]> = {
      // Creates the idempotency record, the name index entry and the session; replaces only an expired record; a repeated key
      // reads the record and the session. (CDK merges grants of the same actions and conditions into one statement.)
      'POST /sessions': () => [
        { Effect: 'Allow', Action: 's3:GetObject', Resource: [objects('idempotency/'), objects('sessions/')] },
        // A session opened held also creates its first renewal record.
        // And the session's active status index entry, and its owner's index entry.
        creates('leases/', 'owners/', 'status/', 'idempotency/', 'names/', 'sessions/'),
        probeKeys(),
        replaces('idempotency/'),
        probeKeys('idempotency/'),
      ],
      'GET /sessions/{id}': () => [readsRenewals(), probeKeys(), probeKeys('leases/')],
      'POST /sessions/{id}/jobs': () => [readsRenewals(), replaces(), probeKeys(), probeKeys('leases/')],
      // A release (paused, completed, terminated) prunes the lease's records.
      // Ending a session (completed, terminated) tags the write.
      'PATCH /sessions/{id}': () => [
        readsRenewals(),
        replaces(),
        probeKeys(),
        setsEndedTag('s3:PutObjectTagging'),
        probeKeys('leases/'),
        ...prunesRenewalsAndMovesStatus(),
      ],
      // Lists the whole of sessions/ or one name's index entries (never reading them); an entry's session may be missing: 404, not 403.
      // With a status: reads the status index's backfill record (a missing one told by listing its key), lists one status's entries.
      'GET /sessions': () => [
        objectAccess('s3:GetObject', 'indexes/', 'leases/', 'sessions/'),
        listAccess('sessions/'),
        probeKeys(),
        listAccess('names/*/'),
        listAccess('indexes/status.json'),
        listAccess('status/*/'),
        // With owner=me (or readers: owner): one owner's index entries.
        listAccess('owners/*/'),
        probeKeys('leases/'),
      ],
      // Lists the versions of one session's key and reads them by version ID; no versions means no session.
      'GET /sessions/{id}/history': () => [objectAccess('s3:GetObjectVersion'), listAccess('sessions/*.json', 's3:ListBucketVersions')],
      // Reads the version to restore (and the current session), replaces If-Match; lists one key's versions or the key itself.
      'POST /sessions/{id}/restore': () => [
        objectAccess(['s3:GetObject', 's3:GetObjectVersion']),
        replaces(),
        listAccess('sessions/*.json', ['s3:ListBucket', 's3:ListBucketVersions']),
        // Restoring an ended version tags the write; the ended version it replaces loses its tag, to stay in the history.
        setsEndedTag('s3:PutObjectTagging'),
        removesEndedTag(),
        // Whether the lease is live may take its renewal record (a missing one told by listing its key).
        objectAccess('s3:GetObject', 'leases/'),
        probeKeys('leases/'),
        // A restore out of active, or a forced one, ends the lease; a restore of another status moves the status index entry.
        ...prunesRenewalsAndMovesStatus(),
      ],
      // The new owner's index entry (create-only), then a compare-and-swap of the session; an ended one stays tagged.
      'POST /sessions/{id}/owner': () => [
        creates('owners/'),
        objectAccess('s3:GetObject'),
        replaces(),
        probeKeys(),
        setsEndedTag('s3:PutObjectTagging'),
      ],
      // A compare-and-swap of the session; the lapsed lease's record is read and fenced (If-Match), the new epoch's created,
      // the older epochs' pruned.
      'POST /sessions/{id}/lease': () => [
        readsRenewals(),
        replaces('leases/', 'sessions/'),
        probeKeys(),
        creates('leases/', 'status/'),
        probeKeys('leases/'),
        // A resume (paused → active) moves the status index entry.
        deletes('leases/', 'status/'),
        listAccess('leases/*/'),
      ],
      // Never writes the session: reads it (cold), reads and writes the renewal record (create on a first beat, else If-Match).
      'POST /sessions/{id}/heartbeat': () => [readsRenewals(), probeKeys(), creates('leases/'), replaces('leases/'), probeKeys('leases/')],
    };
    // Lists every renewal record (leases/, paged), reads and fences lapsed ones, pauses their sessions by compare-and-swap,
    // and deletes stale records one by one or an ended lease's all at once.
    // Until the status index is complete it also walks sessions/, creates entries, and reads and moves the backfill record.
    const sweeperStatements = () => [
      objectAccess('s3:GetObject', 'indexes/', 'leases/', 'sessions/'),
      replaces('indexes/', 'leases/', 'sessions/'),
      probeKeys(),
      listAccess('sessions/'),
      // Retention: name index entries and announcer cursors of deleted sessions are deleted.
      deletes('announced/', 'leases/', 'status/', 'names/'),
      creates('indexes/', 'status/'),
      listAccess('indexes/status.json'),
      listAccess('leases/'),
      probeKeys('leases/'),
      listAccess('leases/*/'),
      // Retention: a session that ended before retention was deployed gets its ending version tagged (untagged again when a
      // restore replaced it meanwhile); the name index and the cursors are walked.
      setsEndedTag('s3:PutObjectVersionTagging'),
      removesEndedTag(),
      listAccess('names/'),
      listAccess('announced/'),
      // And the ended statuses' index entries, for those the backfill made long after their session ended.
      listAccess('status/*/'),
    ];

    it.each(ROUTE_KEYS)('%s: the role allows its own log stream writes and exactly its S3 actions', (routeKey) => {
      const fn = synth.resources[functionIdOfRoute(synth.resources, routeKey)]!;
      const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
      const role = synth.resources[roleId]!;
      const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;

      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(role.Properties.Policies).toHaveLength(1);
      expect(role.Properties.Policies[0].PolicyDocument.Statement).toEqual([
        {
          Sid: 'WriteOwnLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
        },
        ...expectedS3Statements[routeKey](),
      ]);
    });

    it('LeaseSweeper: the role allows its own log stream writes and exactly the S3 actions of LEASE_SWEEPER_ACCESS', () => {
      const fn = synth.resources[logicalId(synth.stack.service.sweeper.function)]!;
      const role = synth.resources[fn.Properties.Role['Fn::GetAtt'][0] as string]!;

      expect(fn.Properties.Role).toEqual({ 'Fn::GetAtt': [logicalId(synth.stack.service.sweeper.role), 'Arn'] });
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
      expect(role.Properties.Policies).toHaveLength(1);
      expect(role.Properties.Policies[0].PolicyDocument.Statement).toEqual([
        {
          Sid: 'WriteOwnLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [fn.Properties.LoggingConfig.LogGroup.Ref as string, 'Arn'] },
        },
        ...sweeperStatements(),
      ]);
    });

    it('gives every function a role of its own', () => {
      const roles = ofType(synth.resources, 'AWS::Lambda::Function').map(([, fn]) => fn.Properties.Role['Fn::GetAtt'][0] as string);
      expect(new Set(roles).size).toBe(ROUTE_KEYS.length + 2);
      expect(
        ofType(synth.resources, 'AWS::IAM::Role')
          .map(([id]) => id)
          .sort(),
      ).toEqual([...roles].sort());
    });

    it('attaches no other policy to any role', () => {
      expect(ofType(synth.resources, 'AWS::IAM::Policy')).toEqual([]);
      expect(ofType(synth.resources, 'AWS::IAM::ManagedPolicy')).toEqual([]);
    });
  });

  describe('sessions bucket', () => {
    it('is private, encrypted, versioned, access-logged, expires noncurrent versions and is retained', () => {
      const logBucketId = logicalId(synth.stack.service.storage.accessLogBucket);
      expect(synth.resources[bucketId]).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
          VersioningConfiguration: { Status: 'Enabled' },
          LoggingConfiguration: { DestinationBucketName: { Ref: logBucketId } },
        },
      });
      expect(synth.resources[bucketId]!.Properties.LifecycleConfiguration.Rules).toContainEqual(
        expect.objectContaining({ Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 90 } }),
      );
    });

    it('expires idempotency records a day after the one-day window and their replaced versions within a day, ended sessions after 90 days, and nothing else by age', () => {
      const rules: Json[] = synth.resources[bucketId]!.Properties.LifecycleConfiguration.Rules;

      expect(rules).toContainEqual({
        Id: 'ExpireIdempotencyRecords',
        Status: 'Enabled',
        Prefix: 'idempotency/',
        ExpirationInDays: 2,
        NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      });
      // The delete markers that expiry leaves, once no version is under them: the whole bucket's, idempotency records' too.
      expect(rules).toContainEqual({
        Id: 'ExpireNoncurrentVersions',
        Status: 'Enabled',
        NoncurrentVersionExpiration: { NoncurrentDays: 90 },
        ExpiredObjectDeleteMarker: true,
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      });
      // Retention (test/infra/retention.test.ts): only versions tagged as ending a session.
      expect(rules.filter((rule) => rule.ExpirationInDays !== undefined).map((rule) => rule.Id)).toEqual([
        'ExpireEndedSessions',
        'ExpireIdempotencyRecords',
      ]);
      expect(rules.find((rule) => rule.Id === 'ExpireEndedSessions')).toMatchObject({
        Prefix: 'sessions/',
        TagFilters: [{ Key: 'runner-sessions:ended', Value: 'true' }],
      });
    });

    it('keeps its access logs in a private, encrypted, retained bucket with expiring objects', () => {
      const logBucketId = logicalId(synth.stack.service.storage.accessLogBucket);
      expect(synth.resources[logBucketId]).toMatchObject({
        DeletionPolicy: 'Retain',
        Properties: {
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
          LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 365 })] },
        },
      });
    });

    describe('policy', () => {
      let statements: Json[];
      beforeAll(() => {
        const [, policy] = ofType(synth.resources, 'AWS::S3::BucketPolicy').find(([, p]) => p.Properties.Bucket.Ref === bucketId) ?? [];
        statements = policy!.Properties.PolicyDocument.Statement;
      });

      it('denies a PutObject under sessions/, names/ or idempotency/ that carries neither If-None-Match nor If-Match', () => {
        expect(statements).toContainEqual({
          Sid: 'DenyUnconditionalSessionWrites',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:PutObject',
          Resource: [{ 'Fn::Join': ['', [bucketArn, '/idempotency/*']] }, { 'Fn::Join': ['', [bucketArn, '/names/*']] }, sessionObjects],
          // Both keys in one Null block: ANDed, so either header alone lets the write through.
          Condition: { Null: { 's3:if-none-match': 'true', 's3:if-match': 'true' } },
        });
      });

      it('denies every request not made over TLS 1.2 or later', () => {
        const everything = [bucketArn, { 'Fn::Join': ['', [bucketArn, '/*']] }];
        expect(statements).toContainEqual({
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Resource: everything,
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        });
        expect(statements).toContainEqual({
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Resource: everything,
          Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
        });
      });

      it('allows nothing', () => {
        expect(statements.filter((statement) => statement.Effect === 'Allow')).toEqual([]);
      });

      it('is retained with the bucket, so a retained bucket stays guarded', () => {
        const policies = ofType(synth.resources, 'AWS::S3::BucketPolicy');
        // The sessions bucket, its access-log bucket and the leases bucket.
        expect(policies.map(([, policy]) => policy.Properties.Bucket.Ref).sort()).toEqual(
          [bucketId, logicalId(synth.stack.service.storage.accessLogBucket), leasesId].sort(),
        );
        for (const [id, policy] of policies) expect(policy.DeletionPolicy, id).toBe('Retain');
      });
    });
  });

  describe('leases bucket', () => {
    it('is private, encrypted, unversioned, access-logged to the sessions log bucket and retained', () => {
      const logBucketId = logicalId(synth.stack.service.storage.accessLogBucket);
      expect(synth.resources[leasesId]).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
          OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
          LoggingConfiguration: { DestinationBucketName: { Ref: logBucketId }, LogFilePrefix: 'leases-bucket/' },
        },
      });
      // Heartbeats rewrite the records every few seconds: no versions pile up.
      expect(synth.resources[leasesId]!.Properties.VersioningConfiguration).toBeUndefined();
      const [, logPolicy] = ofType(synth.resources, 'AWS::S3::BucketPolicy').find(([, p]) => p.Properties.Bucket.Ref === logBucketId) ?? [];
      expect(logPolicy!.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'logging.s3.amazonaws.com' },
          Action: 's3:PutObject',
          Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logBucketId, 'Arn'] }, '/leases-bucket/*']] },
          Condition: expect.objectContaining({ ArnLike: { 'aws:SourceArn': leasesArn } }),
        }),
      );
    });

    it('expires abandoned renewal records after 7 days, the status index entries of ended sessions a day after their retention, and nothing else', () => {
      expect(synth.resources[leasesId]!.Properties.LifecycleConfiguration.Rules).toEqual([
        {
          Id: 'ExpireAbandonedRenewals',
          Status: 'Enabled',
          Prefix: 'leases/',
          ExpirationInDays: 7,
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
        { Id: 'ExpireCompletedStatusEntries', Status: 'Enabled', Prefix: 'status/completed/', ExpirationInDays: 91 },
        { Id: 'ExpireTerminatedStatusEntries', Status: 'Enabled', Prefix: 'status/terminated/', ExpirationInDays: 91 },
      ]);
    });

    it('has a policy, retained with the bucket, that denies plain HTTP, TLS below 1.2 and a PutObject under leases/, announced/, status/, owners/ or indexes/ without a condition, and allows nothing', () => {
      const [, policy] = ofType(synth.resources, 'AWS::S3::BucketPolicy').find(([, p]) => p.Properties.Bucket.Ref === leasesId) ?? [];
      const everything = [leasesArn, { 'Fn::Join': ['', [leasesArn, '/*']] }];

      expect(policy).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      expect(policy!.Properties.PolicyDocument.Statement).toEqual([
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Resource: everything,
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Resource: everything,
          Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
        },
        {
          Sid: 'DenyUnconditionalRenewalWrites',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:PutObject',
          Resource: ['announced', 'indexes', 'leases', 'owners', 'status'].map((prefix) => ({
            'Fn::Join': ['', [leasesArn, `/${prefix}/*`]],
          })),
          Condition: { Null: { 's3:if-none-match': 'true', 's3:if-match': 'true' } },
        },
      ]);
    });

    it('is one of exactly three buckets: the sessions, their access logs, the leases', () => {
      expect(
        ofType(synth.resources, 'AWS::S3::Bucket')
          .map(([id]) => id)
          .sort(),
      ).toEqual([bucketId, logicalId(synth.stack.service.storage.accessLogBucket), leasesId].sort());
    });
  });

  describe('lease sweep schedule', () => {
    it('runs the sweeper, and only it, every minute, without retries (the next sweep is a minute away)', () => {
      // The other rule is the announcer's (test/infra/session-events.test.ts).
      const rules = ofType(synth.resources, 'AWS::Events::Rule').filter(([id]) => id !== logicalId(synth.stack.service.events.rule));
      const sweeperArn = { 'Fn::GetAtt': [logicalId(synth.stack.service.sweeper.function), 'Arn'] };

      expect(ofType(synth.resources, 'AWS::Events::Rule')).toHaveLength(2);
      expect(rules).toHaveLength(1);
      expect(rules[0]![0]).toBe(logicalId(synth.stack.service.sweepSchedule));
      expect(rules[0]![1].Properties).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
      expect(rules[0]![1].Properties.EventPattern).toBeUndefined();
      expect(rules[0]![1].Properties.Targets).toEqual([{ Arn: sweeperArn, Id: 'Target0', RetryPolicy: { MaximumRetryAttempts: 0 } }]);
    });

    it('lets only that rule invoke the sweeper, through EventBridge', () => {
      const sweeperId = logicalId(synth.stack.service.sweeper.function);
      const permissions = ofType(synth.resources, 'AWS::Lambda::Permission').filter(
        ([, p]) => p.Properties.FunctionName['Fn::GetAtt'][0] === sweeperId,
      );

      expect(permissions.map(([, p]) => p.Properties)).toEqual([
        {
          Action: 'lambda:InvokeFunction',
          FunctionName: { 'Fn::GetAtt': [sweeperId, 'Arn'] },
          Principal: 'events.amazonaws.com',
          SourceArn: { 'Fn::GetAtt': [logicalId(synth.stack.service.sweepSchedule), 'Arn'] },
        },
      ]);
    });
  });

  describe('alarms', () => {
    it('alarms on more than 1% of requests answering 5xx over 5 minutes', () => {
      const apiId = logicalId(synth.stack.service.httpApi);
      const apiMetric = (id: string, metricName: string) =>
        Match.objectLike({
          Id: id,
          MetricStat: {
            Metric: { Namespace: 'AWS/ApiGateway', MetricName: metricName, Dimensions: [{ Name: 'ApiId', Value: { Ref: apiId } }] },
            Period: 300,
            Stat: 'Sum',
          },
        });
      synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 1,
        TreatMissingData: 'notBreaching',
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: '100 * FILL(errors, 0) / requests', ReturnData: true }),
          apiMetric('errors', '5xx'),
          apiMetric('requests', 'Count'),
        ]),
      });
    });

    it('alarms on any change that exhausted its compare-and-swap retries', () => {
      synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'RunnerSessions',
        MetricName: 'CasRetriesExhausted',
        Dimensions: [{ Name: 'service', Value: 'runner-sessions' }],
        Statistic: 'Sum',
        Period: 300,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        TreatMissingData: 'notBreaching',
      });
    });
  });

  describe('cdk-nag AwsSolutionsChecks', () => {
    it('reports no finding that is not acknowledged', () => {
      const report = new AwsSolutionsChecks().validateScope(synth.app);
      expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
    });

    it('has every acknowledgement answer a real finding on the same construct, with a reason', () => {
      const acknowledged = new Set<string>();
      for (const construct of synth.app.node.findAll()) {
        for (const entry of construct.node.metadata) {
          if (entry.type !== 'aws:cdk:acknowledged-rules') continue;
          for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
            expect(reason.length, id).toBeGreaterThan(40);
            acknowledged.add(`${construct.node.path} ${id.replace(/^annotation::/i, '')}`);
          }
        }
      }

      const unacknowledged = vi.spyOn(NagPack.prototype as unknown as { isAcknowledged: () => boolean }, 'isAcknowledged');
      unacknowledged.mockReturnValue(false);
      try {
        const report = new AwsSolutionsChecks().validateScope(synth.app);
        const findings = report.violations.flatMap((violation) =>
          violation.violatingResources.map((resource) => `${resource.constructPath!.replace(/\/Resource$/, '')} ${violation.ruleName}`),
        );
        expect(new Set(findings)).toEqual(acknowledged);
      } finally {
        unacknowledged.mockRestore();
      }
    });

    it('acknowledges each object wildcard of a role once, naming exactly the object actions its statements grant there', () => {
      // `<Bucket.Arn>/prefix/*`, as cdk-nag names a resource of a finding.
      const wildcardOf = (resource: Json) => {
        const [
          {
            'Fn::GetAtt': [bucket],
          },
          path,
        ] = resource['Fn::Join'][1];
        return `${bucket}.Arn>${path}`;
      };
      const roles = [...synth.stack.service.functions.values(), synth.stack.service.sweeper].map((fn) => fn.role);
      for (const role of roles) {
        const statements: Json[] = synth.resources[logicalId(role)]!.Properties.Policies[0].PolicyDocument.Statement;
        const granted = new Map<string, Set<string>>();
        for (const statement of statements) {
          for (const resource of [statement.Resource].flat().filter((candidate: Json) => candidate['Fn::Join'] !== undefined)) {
            const actions = granted.get(wildcardOf(resource)) ?? new Set<string>();
            for (const action of [statement.Action].flat()) actions.add(action);
            granted.set(wildcardOf(resource), actions);
          }
        }
        const entries = role.node.metadata
          .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
          .flatMap((entry) => Object.entries(entry.data as Record<string, string>));
        const acknowledged = entries.map(([id]) => /Resource::<(.+)]$/.exec(id)![1]!);

        expect(acknowledged.sort(), role.node.path).toEqual([...granted.keys()].sort());
        for (const [id, reason] of entries) {
          const named = /Object actions \(([^)]+)\)/.exec(reason)![1]!.split(', ');
          expect(named.sort(), `${role.node.path} ${id}`).toEqual([...granted.get(/Resource::<(.+)]$/.exec(id)![1]!)!].sort());
        }
      }
    });

    it('fails the synth on a finding nobody acknowledged', () => {
      const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
      const stack = defineSessionsApp(app);
      new Bucket(stack, 'Unlogged', { enforceSSL: true });

      expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
    });
  });
});

describe('SessionsApi, tuned through its props', () => {
  let synth: Synthesized;

  beforeAll(() => {
    synth = synthesize({
      service: {
        throttlingRateLimit: 5,
        throttlingBurstLimit: 10,
        casMaxAttempts: 3,
        maxJobsPerSession: 100,
        noncurrentVersionExpirationDays: 7,
        removalPolicy: RemovalPolicy.DESTROY,
        logLevel: 'DEBUG',
        memorySize: 256,
        timeout: Duration.seconds(5),
        serverErrorRatePercent: 5,
        idempotencyWindowSeconds: 3 * 86_400 + 1,
      },
    });
  });

  it('passes the idempotency window to the functions and expires its records a day after its last started day', () => {
    const bucketId = logicalId(synth.stack.service.storage.bucket);
    for (const [id, fn] of ofType(synth.resources, 'AWS::Lambda::Function')) {
      expect(fn.Properties.Environment.Variables.IDEMPOTENCY_WINDOW_SECONDS, id).toBe('259201');
    }
    expect(synth.resources[bucketId]!.Properties.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({ Id: 'ExpireIdempotencyRecords', Prefix: 'idempotency/', ExpirationInDays: 5 }),
    );
  });

  it('applies throttling, limits, versions, removal policy and alarm threshold', () => {
    const bucketId = logicalId(synth.stack.service.storage.bucket);
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
    const sweeperId = logicalId(synth.stack.service.sweeper.function);
    const announcerId = logicalId(synth.stack.service.events.announcer.function);
    for (const [id, fn] of ofType(synth.resources, 'AWS::Lambda::Function')) {
      expect(fn.Properties, id).toMatchObject({
        MemorySize: 256,
        // The sweeper's and the announcer's timeouts are their own work's, not a request's.
        Timeout: id === sweeperId ? 55 : id === announcerId ? 60 : 5,
        Environment: { Variables: { CAS_MAX_ATTEMPTS: '3', MAX_JOBS_PER_SESSION: '100', POWERTOOLS_LOG_LEVEL: 'DEBUG' } },
      });
    }
    expect(synth.resources[bucketId]).toMatchObject({ DeletionPolicy: 'Delete' });
    expect(synth.resources[logicalId(synth.stack.service.leases.bucket)]).toMatchObject({ DeletionPolicy: 'Delete' });
    expect(synth.resources[bucketId]!.Properties.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
    );
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', { Threshold: 5, Metrics: Match.anyValue() });
  });

  it('gives a route added to the table its own function, with exactly the access the table names', () => {
    const history: RouteDefinition = {
      id: 'SessionAudit',
      method: HttpMethod.GET,
      path: '/sessions/{id}/audit',
      handler: 'get-session',
      access: [
        {
          prefix: 'sessions/',
          objectActions: ['s3:GetObjectVersion'],
          listActions: ['s3:ListBucketVersions'],
          listedPrefix: 'sessions/*.json',
        },
      ],
    };
    const extended = synthesize({ service: { routes: [...ROUTES, history] } });
    const bucketArn = { 'Fn::GetAtt': [logicalId(extended.stack.service.storage.bucket), 'Arn'] };

    const fn = extended.resources[functionIdOfRoute(extended.resources, 'GET /sessions/{id}/audit')]!;
    const role = extended.resources[fn.Properties.Role['Fn::GetAtt'][0]]!;
    expect(role.Properties.Policies[0].PolicyDocument.Statement.slice(1)).toEqual([
      { Effect: 'Allow', Action: 's3:GetObjectVersion', Resource: { 'Fn::Join': ['', [bucketArn, '/sessions/*']] } },
      {
        Effect: 'Allow',
        Action: 's3:ListBucketVersions',
        Resource: bucketArn,
        Condition: { StringLike: { 's3:prefix': 'sessions/*.json' } },
      },
    ]);
    expect(new AwsSolutionsChecks().validateScope(extended.app).violations).toEqual([]);
  });

  it('gives a route that writes and deletes under a new prefix conditioned writes and listings of that prefix only', () => {
    const leases: RouteDefinition = {
      id: 'SweepLeases',
      method: HttpMethod.POST,
      path: '/sweep',
      handler: 'get-session',
      access: [
        {
          prefix: 'leases/',
          objectActions: ['s3:GetObject', 's3:DeleteObject'],
          writes: ['create', 'replace'],
          listActions: ['s3:ListBucket'],
        },
      ],
    };
    const extended = synthesize({ service: { routes: [...ROUTES, leases] } });
    const bucketArn = { 'Fn::GetAtt': [logicalId(extended.stack.service.storage.bucket), 'Arn'] };
    const leaseObjects = { 'Fn::Join': ['', [bucketArn, '/leases/*']] };

    const fn = extended.resources[functionIdOfRoute(extended.resources, 'POST /sweep')]!;
    const role = extended.resources[fn.Properties.Role['Fn::GetAtt'][0]]!;
    expect(role.Properties.Policies[0].PolicyDocument.Statement.slice(1)).toEqual([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: leaseObjects },
      { Effect: 'Allow', Action: 's3:DeleteObject', Resource: leaseObjects, Condition: { Null: { 's3:if-match': 'true' } } },
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: leaseObjects,
        Condition: { Null: { 's3:if-none-match': 'false', 's3:if-match': 'true' } },
      },
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: leaseObjects,
        Condition: { Null: { 's3:if-match': 'false', 's3:if-none-match': 'true' } },
      },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn, Condition: { StringLike: { 's3:prefix': 'leases/' } } },
    ]);
    expect(new AwsSolutionsChecks().validateScope(extended.app).violations).toEqual([]);
  });

  it.each([
    [{ prefix: '', objectActions: ['s3:GetObject'] }, /prefix/],
    [{ prefix: 'sessions', objectActions: ['s3:GetObject'] }, /prefix/],
    [{ prefix: 'sessions/', objectActions: ['s3:Get*'] }, /named one by one/],
    [{ prefix: 'sessions/', listActions: ['s3:List*'] }, /named one by one/],
    [{ prefix: 'sessions/', objectActions: ['s3:PutObject'] }, /through writes, conditioned/],
    [{ prefix: 'sessions/', listActions: ['s3:ListBucket'], listedPrefix: '*' }, /does not lie under/],
    [{ prefix: 'sessions/', tellsMissingKeys: true, keys: 'names/*' }, /does not lie under/],
    [{ prefix: 'sessions/', objectActions: ['s3:PutObjectTagging'] }, /tags it may set or remove/],
    [{ prefix: 'sessions/', objectActions: ['s3:DeleteObjectVersionTagging'] }, /tags it may set or remove/],
    [{ prefix: 'sessions/', objectActions: ['s3:GetObject'], tags: { 'runner-sessions:ended': 'true' } }, /tags it may set or remove/],
    // A bucket the stack does not have, as a table that drifted from the stack would name it.
    [
      { bucket: 'archive' as AccessBucket, prefix: 'archive/', objectActions: ['s3:GetObject'] },
      /names the archive bucket, which this stack does not have/,
    ],
  ])('refuses a route whose access is %o', (access, message) => {
    const [first] = ROUTES;
    expect(() => synthesize({ service: { routes: [{ ...first!, access: [access] }] } })).toThrow(message);
  });

  it.each([
    [{ casMaxAttempts: 0 }, /CAS_MAX_ATTEMPTS/],
    [{ maxJobsPerSession: 1.5 }, /MAX_JOBS_PER_SESSION/],
    [{ throttlingRateLimit: -1 }, /throttlingRateLimit/],
    [{ noncurrentVersionExpirationDays: 0 }, /noncurrentVersionExpirationDays/],
    [{ idempotencyWindowSeconds: 0 }, /idempotencyWindowSeconds/],
    [{ idempotencyWindowSeconds: 1.5 }, /idempotencyWindowSeconds/],
  ])('refuses %o at synth time', (service, message) => {
    expect(() => synthesize({ service })).toThrow(message);
  });
});

describe('SessionsApi in an app without the feature flags of cdk.json', () => {
  it('still delivers access logs through a bucket policy, with ACLs disabled', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new SessionsStack(app, 'Elsewhere');
    const resources = Template.fromStack(stack).toJSON().Resources as Record<string, Json>;
    const logBucketId = logicalId(stack.service.storage.accessLogBucket);

    expect(resources[logBucketId]!.Properties.AccessControl).toBeUndefined();
    expect(resources[logBucketId]!.Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    const [, logBucketPolicy] = ofType(resources, 'AWS::S3::BucketPolicy').find(([, p]) => p.Properties.Bucket.Ref === logBucketId) ?? [];
    expect(logBucketPolicy!.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' }),
    );
  });
});

describe('bundles, as `cdk synth` makes them', () => {
  let synth: Synthesized;
  let outdir: string;

  beforeAll(() => {
    synth = synthesize({}, { bundle: true });
    outdir = synth.app.synth().directory;
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it.each(ROUTE_KEYS)('%s: a minified ESM bundle of its own handler, with the AWS SDK inside and a source map', (routeKey) => {
    expectOwnBundle(functionIdOfRoute(synth.resources, routeKey), ROUTE_FUNCTIONS[routeKey].handler);
  });

  it('LeaseSweeper: a minified ESM bundle of functions/sweep-leases.ts, with the AWS SDK inside and a source map', () => {
    expectOwnBundle(logicalId(synth.stack.service.sweeper.function), 'sweep-leases');
  });

  function expectOwnBundle(functionId: string, handler: string): void {
    const fn = synth.resources[functionId]!;
    const assetDir = join(outdir, fn.Metadata['aws:asset:path'] as string);
    const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
    const map = JSON.parse(readFileSync(join(assetDir, 'index.mjs.map'), 'utf8')) as { sources: string[]; sourcesContent?: unknown };

    expect(code.startsWith("import { createRequire } from 'node:module';")).toBe(true);
    expect(code.trimEnd().endsWith('//# sourceMappingURL=index.mjs.map')).toBe(true);
    const imported = [...code.matchAll(/\bfrom\s*["']([^"']+)["']/g)].map((match) => match[1]!);
    expect(imported.filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier))).toEqual([]);
    expect(map.sources.some((source) => source.includes('node_modules/@aws-sdk/client-s3/'))).toBe(true);
    const handlers = map.sources
      .filter((source) => !source.includes('node_modules/') && /\/functions\/[^/]+\.ts$/.test(source))
      .map((source) => source.slice(source.lastIndexOf('/functions/')));
    expect(handlers).toEqual([`/functions/${handler}.ts`]);
    expect(map.sourcesContent).toBeUndefined();
    expect(code.split('\n').length).toBeLessThan(code.length / 1000);
  }
});

describe('infra/app.ts', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'runner-sessions-cdk-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('synthesizes the RunnerSessions stack under plain node, as `cdk synth` runs it', async () => {
    const context = { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] };
    await promisify(execFile)(process.execPath, ['infra/app.ts'], {
      cwd: fileURLToPath(ROOT),
      env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context) },
    });

    const template = JSON.parse(readFileSync(join(outdir, 'RunnerSessions.template.json'), 'utf8'));
    expect(Object.keys(template.Outputs).sort()).toEqual(['ApiUrl', 'BucketName', 'EventBusArn', 'EventBusName', 'LeasesBucketName']);
    expect(existsSync(join(outdir, 'manifest.json'))).toBe(true);
  }, 60_000);
});
