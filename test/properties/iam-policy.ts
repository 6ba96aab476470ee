/**
 * A small evaluator of the IAM policy statements a synthesized template
 * holds, enough to ask of the deployed service what AWS would answer: is this
 * S3 request allowed by a function's role, and is it denied by the bucket
 * policy? Statements are resolved from CloudFormation intrinsics with the
 * bucket's logical ID standing for its name. A condition operator it does not
 * know is an error, never silently true or false.
 */

type Json = Record<string, any>;

/** An S3 request as IAM sees it. */
export interface S3Request {
  action: string;
  /** `arn:aws:s3:::<bucket>` or `arn:aws:s3:::<bucket>/<key>`. */
  resource: string;
  /** Condition keys present on the request and their values. */
  context: Record<string, string>;
}

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Turns `Fn::Join`, `Fn::GetAtt [bucket, Arn]` and `Ref` into strings, with logical IDs standing for names. */
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
  if (json.Ref) return json.Ref === 'AWS::AccountId' ? '123456789012' : String(json.Ref);
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** IAM wildcard matching: `*` any run of characters, `?` one; case-insensitive for actions only. */
function wildcard(pattern: string, value: string, { ignoreCase = false } = {}): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

function conditionHolds(operator: string, entries: Record<string, unknown>, context: Record<string, string>): boolean {
  return Object.entries(entries).every(([key, expected]) => {
    const actual = context[key];
    const values = list(expected).map(resolve);
    switch (operator) {
      case 'StringLike':
        return actual !== undefined && values.some((pattern) => wildcard(pattern, actual));
      case 'StringEquals':
        return actual !== undefined && values.includes(actual);
      case 'ArnLike':
        return actual !== undefined && values.some((pattern) => wildcard(pattern, actual));
      case 'Null':
        return values.every((value) => (value === 'true' ? actual === undefined : actual !== undefined));
      case 'Bool':
        return actual !== undefined && values.includes(actual);
      case 'NumericLessThan':
        return actual !== undefined && values.some((value) => Number(actual) < Number(value));
      default:
        throw new Error(`condition operator ${operator} is not understood by this evaluator`);
    }
  });
}

/** Whether `statement` applies to `request` (its effect aside). */
export function statementMatches(statement: Statement, request: S3Request): boolean {
  if (!list(statement.Action).some((action) => wildcard(action, request.action, { ignoreCase: true }))) return false;
  if (!list(statement.Resource).map(resolve).some((pattern) => wildcard(pattern, request.resource))) return false;
  return Object.entries(statement.Condition ?? {}).every(([operator, entries]) => conditionHolds(operator, entries, request.context));
}

/** True for a resource-policy statement that applies to every principal (and so to the functions' roles). */
export function appliesToEveryone(statement: Statement): boolean {
  const principal = statement.Principal as Json | string | undefined;
  return principal === '*' || (typeof principal === 'object' && principal !== null && list(principal.AWS).includes('*'));
}

/**
 * What AWS decides for `request` made by a role with `identity` statements,
 * against a bucket whose policy holds `resource` statements: an explicit deny
 * anywhere wins, then an allow by the role; otherwise it is implicitly denied.
 * (Same-account access: the role's allow suffices without a bucket allow.)
 */
export function decide(identity: Statement[], resource: Statement[], request: S3Request): 'allow' | 'deny' | 'implicit deny' {
  const applicable = [...identity, ...resource.filter(appliesToEveryone)];
  if (applicable.some((statement) => statement.Effect === 'Deny' && statementMatches(statement, request))) return 'deny';
  if (identity.some((statement) => statement.Effect === 'Allow' && statementMatches(statement, request))) return 'allow';
  return 'implicit deny';
}

/** The context every request of the functions carries: TLS 1.3, as the SDK connects to S3. */
export const OVER_TLS = { 'aws:SecureTransport': 'true', 's3:TlsVersion': '1.3' } as const;
