import { CfnResource, type Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Effect, PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type IDestination, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { AccessBucket, PrefixAccess, WriteKind } from './routes.ts';

/** Properties of {@link RouteFunction}. */
export interface RouteFunctionProps {
  /** Absolute path of the handler module (exports `handler`). */
  readonly entry: string;
  /** Directory holding package.json and package-lock.json; esbuild resolves `#lib/*` from it. */
  readonly projectRoot: string;
  readonly description: string;
  /** The service's buckets by name; every bucket `access` names must be here. */
  readonly buckets: Readonly<Partial<Record<AccessBucket, IBucket>>>;
  /** The only S3 access the function gets. */
  readonly access: readonly PrefixAccess[];
  readonly environment: Record<string, string>;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly logRetention: RetentionDays;
  /** Applies to the function's log group. */
  readonly removalPolicy: RemovalPolicy;
  /** Statements beyond its logs and S3 (e.g. `events:PutEvents` on one bus), in the same inline policy. @default none */
  readonly statements?: readonly PolicyStatement[];
  /** Most instances that run at once. @default unreserved */
  readonly reservedConcurrentExecutions?: number;
  /** Where asynchronous invocations go once their retries failed. @default nowhere */
  readonly onFailure?: IDestination;
}

/** Makes an ESM bundle that can still load the CommonJS parts of its dependencies. */
const REQUIRE_SHIM = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

/**
 * The Lambda function behind one route: Node.js 24 on arm64, a minified ESM
 * bundle with source maps and the AWS SDK inside, its own log group, and a
 * role that may only write its logs and perform the S3 actions in `access`.
 */
export class RouteFunction extends Construct {
  /** The function, bundled by esbuild from the route's handler. */
  readonly function: NodejsFunction;
  /** Its execution role: its own logs and the route's S3 access, nothing else. */
  readonly role: Role;
  /** Its log group, with the configured retention. */
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: RouteFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    const statements = [
      new PolicyStatement({
        sid: 'WriteOwnLogs',
        effect: Effect.ALLOW,
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
      ...props.access.flatMap((access) => s3Statements(bucketOf(props.buckets, access), access)),
      ...(props.statements ?? []),
    ];
    // An explicit role instead of the default one: AWSLambdaBasicExecutionRole may write to every log group.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (execution role)`,
      inlinePolicies: { Access: new PolicyDocument({ statements }) },
    });
    // One acknowledgement per bucket and prefix, naming every object action granted there (several entries may share a prefix).
    const byObjects = Map.groupBy(props.access, (access) => `${access.bucket ?? 'sessions'} ${access.prefix}`);
    for (const accesses of byObjects.values()) acknowledgeObjectWildcards(this.role, bucketOf(props.buckets, accesses[0]!), accesses);

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: `${props.projectRoot}/package-lock.json`,
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      ...(props.reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      ...(props.onFailure === undefined ? {} : { onFailure: props.onFailure }),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        // Stack traces need only the mappings, not a copy of every source file inside the map.
        sourcesContent: false,
        mainFields: ['module', 'main'],
        bundleAwsSDK: true,
        banner: REQUIRE_SHIM,
      },
    });
  }
}

/**
 * The condition of each kind of write: exactly its own header. S3 puts a
 * condition key into the request context only when the header is present, so
 * `Null: false` means "sent" and `Null: true` "not sent".
 */
const WRITE_CONDITIONS: Record<WriteKind, Record<string, string>> = {
  create: { 's3:if-none-match': 'false', 's3:if-match': 'true' },
  replace: { 's3:if-match': 'false', 's3:if-none-match': 'true' },
};

/** A DeleteObject that carries no `If-Match`: the only delete the service makes (of renewal records). */
const UNCONDITIONAL_DELETE = { 's3:if-match': 'true' };

/** The actions that set object tags: a write's `Tagging` needs `s3:PutObjectTagging` too; a stored version's, `s3:PutObjectVersionTagging`. */
const TAG_SETTERS: ReadonlySet<string> = new Set(['s3:PutObjectTagging', 's3:PutObjectVersionTagging']);
/** The actions that remove an object's tags. */
const TAG_REMOVERS: ReadonlySet<string> = new Set(['s3:DeleteObjectTagging', 's3:DeleteObjectVersionTagging']);

function isTagging(action: string): boolean {
  return TAG_SETTERS.has(action) || TAG_REMOVERS.has(action);
}

/**
 * Exactly `tags` and no other: each tag's value, and no key beside theirs. S3 puts the
 * `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys` keys into the context of a request that sets tags.
 */
function requestTagConditions(tags: Readonly<Record<string, string>>): Record<string, Record<string, unknown>> {
  return {
    StringEquals: Object.fromEntries(Object.entries(tags).map(([key, value]) => [`s3:RequestObjectTag/${key}`, value])),
    'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': Object.keys(tags) },
  };
}

/** Only from an object that carries `tags` (`s3:ExistingObjectTag/<key>`). */
function existingTagConditions(tags: Readonly<Record<string, string>>): Record<string, Record<string, unknown>> {
  return { StringEquals: Object.fromEntries(Object.entries(tags).map(([key, value]) => [`s3:ExistingObjectTag/${key}`, value])) };
}

function bucketOf(buckets: RouteFunctionProps['buckets'], access: PrefixAccess): IBucket {
  const name = access.bucket ?? 'sessions';
  const bucket = buckets[name];
  if (bucket === undefined) throw new Error(`access to ${access.prefix} names the ${name} bucket, which this stack does not have`);
  return bucket;
}

function s3Statements(bucket: IBucket, access: PrefixAccess): PolicyStatement[] {
  checkNarrow(access);
  const statements: PolicyStatement[] = [];
  const objects = [bucket.arnForObjects(`${access.prefix}*`)];
  const reads = (access.objectActions ?? []).filter((action) => action !== 's3:DeleteObject' && !isTagging(action));
  if (reads.length > 0) statements.push(new PolicyStatement({ effect: Effect.ALLOW, actions: reads, resources: objects }));
  for (const [tagging, conditions] of [
    [TAG_SETTERS, requestTagConditions],
    [TAG_REMOVERS, existingTagConditions],
  ] as const) {
    const actions = (access.objectActions ?? []).filter((action) => tagging.has(action));
    if (actions.length > 0)
      statements.push(new PolicyStatement({ effect: Effect.ALLOW, actions, resources: objects, conditions: conditions(access.tags!) }));
  }
  if (access.objectActions?.includes('s3:DeleteObject')) {
    // Granted as the service sends it, without If-Match (S3 sets s3:if-match only when the header is sent), and no wider.
    statements.push(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:DeleteObject'],
        resources: objects,
        conditions: { Null: UNCONDITIONAL_DELETE },
      }),
    );
  }
  for (const kind of access.writes ?? []) {
    statements.push(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:PutObject'],
        resources: objects,
        conditions: { Null: WRITE_CONDITIONS[kind] },
      }),
    );
  }
  if (access.listActions?.length) {
    statements.push(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: [...access.listActions],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': access.listedPrefix ?? access.prefix } },
      }),
    );
  }
  if (access.tellsMissingKeys) {
    statements.push(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': keysOf(access) } },
      }),
    );
  }
  return statements;
}

function keysOf(access: PrefixAccess): string {
  return access.keys ?? `${access.prefix}*.json`;
}

/** Refuses access that would reach beyond one prefix, name actions by wildcard, or write without a condition. */
function checkNarrow(access: PrefixAccess): void {
  if (!/^[^*?]+\/$/.test(access.prefix)) {
    throw new Error(`an S3 access prefix must be non-empty, end with "/" and hold no wildcard, got "${access.prefix}"`);
  }
  const wildcard = [...(access.objectActions ?? []), ...(access.listActions ?? [])].find((action) => /[*?]/.test(action));
  if (wildcard !== undefined) throw new Error(`S3 actions must be named one by one, got "${wildcard}"`);
  if (access.objectActions?.includes('s3:PutObject'))
    throw new Error(`s3:PutObject on ${access.prefix} must be granted through writes, conditioned`);
  const tags = access.objectActions?.some(isTagging) ?? false;
  if (tags !== (access.tags !== undefined && Object.keys(access.tags).length > 0))
    throw new Error(`tagging on ${access.prefix} needs both a tagging action and the tags it may set or remove, named in tags`);
  for (const pattern of [keysOf(access), access.listedPrefix ?? access.prefix]) {
    if (!pattern.startsWith(access.prefix)) throw new Error(`"${pattern}" does not lie under the access prefix ${access.prefix}`);
  }
}

/**
 * Object keys embed random session IDs, so object actions can only be granted
 * on a prefix; the grants on one prefix of one bucket (`accesses`) are
 * acknowledged by their exact cdk-nag finding.
 */
function acknowledgeObjectWildcards(role: Role, bucket: IBucket, accesses: readonly PrefixAccess[]): void {
  const bucketResource = bucket.node.defaultChild;
  if (!CfnResource.isCfnResource(bucketResource)) return;
  const actions = [
    ...new Set(accesses.flatMap((access) => [...(access.objectActions ?? []), ...(access.writes?.length ? ['s3:PutObject'] : [])])),
  ];
  if (actions.length === 0) return;
  const access = accesses[0]!;
  const objectNames = accesses.find((candidate) => candidate.objectNames !== undefined)?.objectNames;
  const bucketLogicalId = Stack.of(bucket).resolve(bucketResource.logicalId) as string;
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/${access.prefix}*]`,
    reason:
      `Object actions (${actions.join(', ')}) are granted on the ${access.prefix} prefix only: ` +
      `it holds ${objectNames ?? 'one object per session, named by its random ID'}, so no fixed list of object ARNs exists.`,
  });
}
