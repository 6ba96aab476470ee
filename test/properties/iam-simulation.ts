/**
 * What AWS would answer the functions' S3 requests, asked of an IAM policy
 * simulator (`@cloud-copilot/iam-simulate`, which evaluates identity and
 * resource policies with every condition operator): the statements of a
 * synthesized template are resolved from CloudFormation intrinsics, with
 * logical IDs standing for names, and each request is simulated against the
 * role's statements and the bucket policy together.
 *
 * It also names the matrix of requests the service could make to its buckets
 * (each bucket × every action it can use × every prefix × the condition
 * headers × the listed prefix), so that a test can hold "the simulator allows
 * it" against "the code was seen to make it", cell by cell.
 */

import { runSimulation } from '@cloud-copilot/iam-simulate';

type Json = Record<string, any>;

/** The account of the synthesized template (`AWS::AccountId`). */
export const ACCOUNT_ID = '123456789012';

/** An S3 request as IAM sees it. */
export interface S3Request {
  action: string;
  /** `arn:aws:s3:::<bucket>` or `arn:aws:s3:::<bucket>/<key>`. */
  resource: string;
  /** Condition keys present on the request and their values (a list for a multivalued key such as `s3:RequestObjectTagKeys`). */
  context: Record<string, string | string[]>;
}

/** A policy statement of the template, intrinsics unresolved. */
export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** What the simulator decides. */
export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

/** The context every request of the functions carries: TLS 1.3, as the SDK connects to S3. */
export const OVER_TLS = { 'aws:SecureTransport': 'true', 's3:TlsVersion': '1.3' } as const;

/** Turns `Fn::Join`, `Fn::GetAtt [id, Arn]` and `Ref` into strings, with logical IDs standing for names. */
export function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  const json = value as Json;
  if (json['Fn::Join']) {
    const [separator, parts] = json['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(separator);
  }
  if (json['Fn::GetAtt']) {
    const [id, attribute] = json['Fn::GetAtt'] as [string, string];
    if (attribute !== 'Arn') throw new Error(`cannot resolve Fn::GetAtt ${id}.${attribute}`);
    return `arn:aws:s3:::${id}`;
  }
  if (json.Ref) {
    if (json.Ref === 'AWS::AccountId') return ACCOUNT_ID;
    if (json.Ref === 'AWS::Partition') return 'aws';
    if (json.Ref === 'AWS::Region') return REGION;
    return String(json.Ref);
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** A statement with its resources and condition values resolved to strings, as the simulator reads them. */
export function resolvedStatement(statement: Statement): Json {
  const resolvedConditions = Object.fromEntries(
    Object.entries(statement.Condition ?? {}).map(([operator, entries]) => [
      operator,
      Object.fromEntries(Object.entries(entries).map(([key, value]) => [key, Array.isArray(value) ? value.map(resolve) : resolve(value)])),
    ]),
  );
  return {
    ...statement,
    Resource: list(statement.Resource).map(resolve),
    ...(statement.Condition === undefined ? {} : { Condition: resolvedConditions }),
  };
}

/**
 * What AWS decides for `request`, made by the role named `role` with the
 * `identity` statements, against a bucket whose policy holds `bucketPolicy`
 * (same account: the role's allow suffices, an explicit deny anywhere wins).
 */
export async function simulate(role: string, identity: Statement[], bucketPolicy: Statement[], request: S3Request): Promise<Decision> {
  return simulated(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/${role}/function`, identity, bucketPolicy, request);
}

/** The region of the synthesized template (`AWS::Region`). */
export const REGION = 'eu-west-1';

/**
 * What API Gateway's IAM authorizer decides for a call of `method path` on the `$default` stage of the API
 * `apiId`, made by `principal` (an assumed-role session or a user ARN) with the `identity` statements. HTTP APIs
 * have no resource policy: the identity's allow decides.
 */
export async function simulateInvoke(
  principal: string,
  identity: Statement[],
  { apiId, method, path }: { apiId: string; method: string; path: string },
): Promise<Decision> {
  const resource = `arn:aws:execute-api:${REGION}:${ACCOUNT_ID}:${apiId}/$default/${method}${path}`;
  return simulated(principal, identity, undefined, { action: 'execute-api:Invoke', resource, context: { 'aws:SecureTransport': 'true' } });
}

async function simulated(principal: string, identity: Statement[], resourcePolicy: Statement[] | undefined, request: S3Request) {
  const response = await runSimulation(
    {
      identityPolicies: [{ name: 'Access', policy: { Version: '2012-10-17', Statement: identity.map(resolvedStatement) } }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy === undefined
        ? {}
        : { resourcePolicy: { Version: '2012-10-17', Statement: resourcePolicy.map(resolvedStatement) } }),
      request: {
        action: request.action,
        principal,
        resource: { accountId: ACCOUNT_ID, resource: request.resource },
        contextVariables: request.context,
      },
    },
    {},
  );
  if (response.resultType === 'error')
    throw new Error(`the simulator refused ${JSON.stringify(request)}: ${JSON.stringify(response.errors)}`);
  return response.overallResult as Decision;
}

const SAMPLE_ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
const SAMPLE_HASH = 'ab'.repeat(32);

/**
 * The prefixes of the matrix, each with a key of the shape stored under it; `other/` stands for every key outside them.
 * Every bucket gets every prefix: a prefix of one bucket asked of the other must be denied too.
 */
export const MATRIX_PREFIXES = [
  { prefix: 'sessions/', key: `sessions/${SAMPLE_ID}.json`, within: 'sessions/x/' },
  { prefix: 'names/', key: `names/${SAMPLE_HASH}/${SAMPLE_ID}.json`, within: `names/${SAMPLE_HASH}/` },
  { prefix: 'idempotency/', key: `idempotency/${SAMPLE_HASH}.json`, within: 'idempotency/x/' },
  // One lease renewal record, `leases/<id>/<epoch>-<seconds>.json`; within: one session's records.
  { prefix: 'leases/', key: `leases/${SAMPLE_ID}/3-60.json`, within: `leases/${SAMPLE_ID}/` },
  // One status index entry, `status/<status>/<id>.json`; within: one status's entries.
  { prefix: 'status/', key: `status/active/${SAMPLE_ID}.json`, within: 'status/active/' },
  // One owner index entry, `owners/<sha256(owner)>/<id>.json`; within: one owner's entries.
  { prefix: 'owners/', key: `owners/${SAMPLE_HASH}/${SAMPLE_ID}.json`, within: `owners/${SAMPLE_HASH}/` },
  // The backfill record of an index, `indexes/<index>.json`.
  { prefix: 'indexes/', key: 'indexes/status.json', within: 'indexes/x/' },
  // The announcer's cursor of a session, `announced/<id>.json`.
  { prefix: 'announced/', key: `announced/${SAMPLE_ID}.json`, within: 'announced/x/' },
  { prefix: 'other/', key: `other/${SAMPLE_ID}.json`, within: 'other/x/' },
] as const;

/** The buckets of the matrix by a short name (`sessions`, `leases`), each with its ARN. */
export type MatrixBuckets = Readonly<Record<string, string>>;

/**
 * The object actions the service can use, each with the condition headers
 * S3 lets a request of it carry (the service authorization reference lists
 * `s3:if-none-match` and `s3:if-match` for PutObject, `s3:if-match` for DeleteObject).
 */
export const MATRIX_OBJECT_ACTIONS: Readonly<Record<string, readonly ConditionHeader[]>> = {
  's3:GetObject': [],
  's3:GetObjectVersion': [],
  's3:PutObject': ['s3:if-none-match', 's3:if-match'],
  's3:DeleteObject': ['s3:if-match'],
};

/**
 * The tagging actions the service can use (retention's ended tag): setting tags on a write (a PutObject's `Tagging`
 * needs `s3:PutObjectTagging` too) or on a stored version, and removing a version's tags.
 */
export const MATRIX_TAG_SETTERS = ['s3:PutObjectTagging', 's3:PutObjectVersionTagging'] as const;
export const MATRIX_TAG_REMOVERS = ['s3:DeleteObjectVersionTagging'] as const;

/** The tag sets of the matrix: none, the ended tag, the ended tag with another value, and the ended tag with another tag. */
export const MATRIX_TAG_SETS: readonly Readonly<Record<string, string>>[] = [
  {},
  { 'runner-sessions:ended': 'true' },
  { 'runner-sessions:ended': 'false' },
  { 'runner-sessions:ended': 'true', other: 'x' },
];

/** The condition keys of a request that sets `tags`. */
export function settingTags(tags: Readonly<Record<string, string>>): Record<string, string | string[]> {
  if (Object.keys(tags).length === 0) return {};
  return {
    's3:RequestObjectTagKeys': Object.keys(tags),
    ...Object.fromEntries(Object.entries(tags).map(([key, value]) => [`s3:RequestObjectTag/${key}`, value])),
  };
}

/** The condition keys of a request on an object that carries `tags`. */
export function onTagged(tags: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).map(([key, value]) => [`s3:ExistingObjectTag/${key}`, value]));
}

/** The listing actions the service can use: ListObjectsV2 and ListObjectVersions. */
export const MATRIX_LIST_ACTIONS = ['s3:ListBucket', 's3:ListBucketVersions'] as const;

type ConditionHeader = 's3:if-none-match' | 's3:if-match';

const HEADER_VALUES: Record<ConditionHeader, string> = { 's3:if-none-match': '*', 's3:if-match': '"3858f62230ac3c915f300c664312c63f"' };

/** One cell of the matrix: a label that observations are sorted under, and the request that stands for it. */
export interface MatrixCell {
  readonly label: string;
  readonly request: S3Request;
}

/** Every cell of the matrix on each of `buckets`. */
export function matrixCells(buckets: MatrixBuckets): MatrixCell[] {
  const cells: MatrixCell[] = [];
  for (const bucketArn of Object.values(buckets)) {
    for (const [action, headers] of Object.entries(MATRIX_OBJECT_ACTIONS)) {
      for (const { key } of MATRIX_PREFIXES) {
        for (const sent of subsets(headers)) {
          const context: Record<string, string> = {
            ...OVER_TLS,
            ...Object.fromEntries(sent.map((header) => [header, HEADER_VALUES[header]])),
          };
          const request = { action, resource: `${bucketArn}/${key}`, context };
          cells.push({ label: cellLabel(request, buckets), request });
        }
      }
    }
    for (const { key } of MATRIX_PREFIXES) {
      for (const tags of MATRIX_TAG_SETS) {
        for (const action of MATRIX_TAG_SETTERS) {
          const request = { action, resource: `${bucketArn}/${key}`, context: { ...OVER_TLS, ...settingTags(tags) } };
          cells.push({ label: cellLabel(request, buckets), request });
        }
        // A version the service tagged carries the ended tag alone: removals are asked of objects with at most one tag.
        if (Object.keys(tags).length > 1) continue;
        for (const action of MATRIX_TAG_REMOVERS) {
          const request = { action, resource: `${bucketArn}/${key}`, context: { ...OVER_TLS, ...onTagged(tags) } };
          cells.push({ label: cellLabel(request, buckets), request });
        }
      }
    }
    const listedPrefixes = [undefined, '', ...MATRIX_PREFIXES.flatMap(({ prefix, key, within }) => [prefix, key, within])];
    for (const action of MATRIX_LIST_ACTIONS) {
      for (const listed of listedPrefixes) {
        const request = { action, resource: bucketArn, context: { ...OVER_TLS, ...(listed === undefined ? {} : { 's3:prefix': listed }) } };
        cells.push({ label: cellLabel(request, buckets), request });
      }
    }
  }
  return cells;
}

/**
 * The cell an S3 request falls in: its bucket, its action, where (the prefix
 * of its key, or what its `s3:prefix` names: a whole prefix, one key, or a
 * folder within a prefix) and which condition headers it carries.
 * @throws when the request falls in no cell: the matrix must grow.
 */
export function cellLabel(request: S3Request, buckets: MatrixBuckets): string {
  const headers = (['s3:if-none-match', 's3:if-match'] as const).filter((header) => request.context[header] !== undefined);
  const withHeaders = headers.length === 0 ? '' : ` with ${headers.join(' and ')}`;
  const [bucket, bucketArn] =
    Object.entries(buckets).find(([, arn]) => request.resource === arn || request.resource.startsWith(`${arn}/`)) ?? [];
  if (bucket === undefined || bucketArn === undefined) throw new Error(`${request.resource} is in no bucket of the matrix`);
  if (request.resource.startsWith(`${bucketArn}/`)) {
    const key = request.resource.slice(bucketArn.length + 1);
    const where = MATRIX_PREFIXES.find(({ prefix }) => key.startsWith(prefix))?.prefix ?? 'other/';
    if ((MATRIX_TAG_SETTERS as readonly string[]).includes(request.action))
      return `[${bucket}] ${request.action} ${where}… setting ${tagsOf(request.context, 's3:RequestObjectTag/')}`;
    if ((MATRIX_TAG_REMOVERS as readonly string[]).includes(request.action))
      return `[${bucket}] ${request.action} ${where}… of an object tagged ${tagsOf(request.context, 's3:ExistingObjectTag/')}`;
    if (MATRIX_OBJECT_ACTIONS[request.action] === undefined) throw new Error(`${request.action} is not in the matrix`);
    return `[${bucket}] ${request.action} ${where}…${withHeaders}`;
  }
  if (!(MATRIX_LIST_ACTIONS as readonly string[]).includes(request.action))
    throw new Error(`${request.action} on ${request.resource} is not in the matrix`);
  return `[${bucket}] ${request.action} ${listedPrefixClass(request.context['s3:prefix'] as string | undefined)}${withHeaders}`;
}

/** The tags named by the context keys that start with `keyPrefix`, as `k=v and k2=v2`, or `nothing`. */
function tagsOf(context: S3Request['context'], keyPrefix: string): string {
  const tags = Object.entries(context)
    .filter(([key]) => key.startsWith(keyPrefix))
    .map(([key, value]) => `${key.slice(keyPrefix.length)}=${value}`)
    .sort();
  return tags.length === 0 ? 'nothing' : tags.join(' and ');
}

function listedPrefixClass(listed: string | undefined): string {
  if (listed === undefined) return 'without s3:prefix';
  if (listed === '') return 's3:prefix "" (the whole bucket)';
  const sample = MATRIX_PREFIXES.find(({ prefix }) => listed.startsWith(prefix));
  if (sample === undefined) return 's3:prefix outside the prefixes';
  if (listed === sample.prefix) return `s3:prefix ${sample.prefix} (all of it)`;
  if (sameShape(listed, sample.key)) return `s3:prefix one key under ${sample.prefix}`;
  if (sameShape(listed, sample.within)) return `s3:prefix a folder within ${sample.prefix}`;
  throw new Error(`s3:prefix ${listed} is of no shape the matrix samples`);
}

/** Same shape: equal once every run of lowercase hex (an ID or a hash), every one-letter folder name and every number is blanked. */
function sameShape(value: string, sample: string): boolean {
  const shape = (text: string) =>
    text
      .replace(/[0-9a-f]{32,64}/g, '#')
      .replace(/\/x\//g, '/#/')
      .replace(/[0-9]+/g, '#');
  return shape(value) === shape(sample);
}

function subsets<T>(items: readonly T[]): T[][] {
  let all: T[][] = [[]];
  for (const item of items) all = all.concat(all.map((subset) => [...subset, item]));
  return all;
}
