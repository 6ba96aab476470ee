/**
 * Who owns a session and who may change or read it.
 *
 * A session records its `owner` when it is created: deployed, the caller's IAM principal
 * normalised so that a fleet under one role shares its sessions (an assumed-role session owns
 * as its role); locally, the token's tenant. Changes are for the owner and for operators; a
 * session stored before owners (no `owner`) is changed by operators only, until one adopts it.
 *
 * @module
 */

/** The caller of a request as the ownership rules see it. */
export interface Caller {
  /** Who the caller is, for `updated_by` and logs (a principal ARN, a token label); undefined when unknown. */
  actor: string | undefined;
  /** The owner a session created by this caller records. */
  owner: string;
  /** Operators may change and read every session, and adopt sessions that have no owner. */
  operator: boolean;
}

/** Who may read and list: every admitted caller (`account`), or owners and operators only (`owner`). */
export type Readers = 'account' | 'owner';

const ASSUMED_ROLE = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;

/**
 * The owner a principal's sessions record: an assumed-role session
 * `arn:aws:sts::A:assumed-role/R/S` owns as `arn:aws:iam::A:role/R` (a role's path is not in the
 * session ARN, so it is not in the owner either); any other principal (an IAM user, the account's
 * root, a federated user) owns as its own ARN.
 */
export function ownerOfPrincipal(arn: string): string {
  const assumed = ASSUMED_ROLE.exec(arn);
  if (assumed === null) return arn;
  const [, partition, account, role] = assumed;
  return `arn:${partition}:iam::${account}:role/${role}`;
}

/** True when `caller` may change a session owned by `owner` (undefined or null: stored before owners). */
export function mayChange(owner: string | null | undefined, caller: Caller): boolean {
  if (caller.operator) return true;
  return typeof owner === 'string' && owner === caller.owner;
}

/** True when `caller` may read a session owned by `owner` under the `readers` setting. */
export function mayRead(owner: string | null | undefined, caller: Caller, readers: Readers): boolean {
  return readers === 'account' || mayChange(owner, caller);
}
