/**
 * The lease use cases: acquire (and resume, and take over), heartbeat, and the
 * sweeper's pause of a lapsed lease, with the renewal records they keep
 * (lib/sessions/renewals.ts). The rules are the pure functions of
 * lib/domain/lease.ts, applied inside the session's compare-and-swap.
 *
 * @module
 */

import { ConflictRetry, Forbidden } from '../domain/errors.ts';
import { acquireLease as acquiredSession, fence, LEASE_EXPIRY_ACTOR, leaseState, openLease } from '../domain/lease.ts';
import { type Caller, mayChange } from '../domain/owner.ts';
import { LEASE_SECONDS, type Lease, type Session } from '../domain/session.ts';
import { ConditionNotMet, StoreFault } from '../storage/port.ts';
import { changeSession } from './change.ts';
import { type ChangeResult, nowSeconds, readSession, requireId, type SessionsContext } from './context.ts';
import type { StoredRenewal } from './renewals.ts';

/** What an acquire asks for. */
export interface AcquireOptions {
  /** The runner's name for itself; default: the actor. */
  holder?: string | undefined;
  /** Lease length, 5–3600 s; default 60. */
  seconds?: number | undefined;
  /** Take the lease even from a live holder, who is then fenced out. */
  force?: boolean | undefined;
  /** The caller's `Lease-Epoch`: equal to the live lease's, the acquire is its holder's re-acquire. */
  leaseEpoch?: number | undefined;
  actor?: string | undefined;
  /** Whose acquire it is: the session's owner (a fleet-mate's forced take-over included) or an operator; else `Forbidden`. */
  caller?: Caller | undefined;
}

/** An acquire found the lapsed lease's renewal record renewed while it fenced it: decide again from fresh reads. */
class RenewalRaced extends Error {}

/**
 * Takes the session's lease: a new lease one epoch above the last, and a
 * `paused` session `active` again (the resume). A live lease is taken only by
 * its holder presenting its epoch (`leaseEpoch`), or with `force`. A
 * compare-and-swap of the session, so of racing acquirers of a free lease
 * exactly one wins, and forced take-overs get distinct, increasing epochs.
 * Afterwards the older epochs' renewal records are deleted, so that a fenced
 * holder's next heartbeat reads the session and hears `lease_lost`.
 * @throws Forbidden, LeaseHeld, InvalidTransition, SessionNotFound, ConflictRetry
 */
export async function acquireLease(
  context: SessionsContext,
  id: string,
  { holder, seconds = LEASE_SECONDS.default, force = false, leaseEpoch, actor, caller }: AcquireOptions = {},
): Promise<ChangeResult> {
  const checked = requireId(id);
  const request = { holder: holder ?? actor ?? 'anonymous', seconds, force, epoch: leaseEpoch };
  for (;;) {
    // The renewal record is read once, before the compare-and-swap, and again only when the epoch moved: a read inside
    // every attempt would widen the window in which a busy holder's appends make the acquire lose its write.
    let known: { epoch: number; stored: StoredRenewal | undefined } | undefined;
    try {
      const result = await changeSession(context, checked, { actor, caller }, async (session) => {
        const now = nowSeconds(context);
        const lease = openLease(session);
        if (lease !== undefined && known?.epoch !== lease.epoch)
          known = { epoch: lease.epoch, stored: await context.renewals.read(checked, lease.epoch, lease.seconds) };
        const stored = lease === undefined ? undefined : known?.stored;
        const next = acquiredSession(session, stored?.renewal, request, now);
        // Taking a lapsed lease without force must not race a late heartbeat: fence its record first; a heartbeat that
        // lands before the fence keeps the lease (the next attempt sees it live), one after it hears lease_lost.
        if (!force && stored !== undefined && leaseState(session, stored.renewal, now).kind !== 'live' && stored.renewal.expired !== true) {
          if (!(await context.renewals.fence(stored))) throw new RenewalRaced();
        }
        return next;
      });
      await startRenewals(context, result.session);
      return result;
    } catch (error) {
      if (!(error instanceof RenewalRaced)) throw error;
    }
  }
}

/**
 * Extends the lease of epoch `epoch` to now + `seconds` (default: its
 * length) without writing the session: one conditional PUT of its renewal
 * record on a warm instance, a read of the session and the record otherwise.
 * A `caller` that is neither the session's owner nor an operator is refused
 * (`Forbidden`) before the lease is judged: on a warm instance by the owner it
 * remembers with the record (a caller it does not match reads the session).
 * @throws Forbidden, LeaseLost (superseded, expired, released, restored), SessionNotFound, ConflictRetry
 */
export async function heartbeat(context: SessionsContext, id: string, epoch: number, seconds?: number, caller?: Caller): Promise<Lease> {
  const checked = requireId(id);
  const remembered = await context.renewals.renewRemembered(
    checked,
    epoch,
    seconds,
    (owner) => caller === undefined || mayChange(owner, caller),
  );
  if (remembered !== undefined) {
    const { renewal, holder } = remembered;
    return { holder, epoch, seconds: renewal.seconds, expires_at: renewal.expires_at };
  }
  const attempts = context.config.casMaxAttempts;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const session = (await readSession(context, checked)).value;
    if (caller !== undefined && !mayChange(session.owner, caller)) throw new Forbidden(checked);
    const lease = session.lease;
    const stored = lease?.epoch === epoch ? await context.renewals.read(checked, lease.epoch, lease.seconds) : undefined;
    const now = nowSeconds(context);
    fence(session, stored?.renewal, epoch, now);
    const expiresAt = now + (seconds ?? lease!.seconds);
    try {
      await context.renewals.write(checked, { ...lease!, owner: session.owner }, expiresAt, stored);
      return { ...lease!, expires_at: Math.max(expiresAt, lease!.expires_at) };
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
    }
  }
  throw new ConflictRetry(checked, attempts);
}

/**
 * Pauses the session if its lease of epoch `epoch` has been expired for
 * longer than `graceSeconds`, as an ordinary compare-and-swap change by
 * `lease-expiry`. The caller (the sweeper) fenced the renewal record first,
 * so only the session's own expiry counts. A no-op when anything else
 * happened meanwhile: a heartbeat or a change by the holder, a release, an acquire.
 */
export async function expireLapsedLease(context: SessionsContext, id: string, epoch: number, graceSeconds: number): Promise<ChangeResult> {
  const result = await changeSession(context, requireId(id), { actor: LEASE_EXPIRY_ACTOR }, async (session) => {
    const lease = openLease(session);
    if (lease === undefined || lease.epoch !== epoch || lease.expires_at + graceSeconds > nowSeconds(context)) return undefined;
    return { ...session, status: 'paused', lease: { ...lease, ended: 'expired' } };
  });
  if (result.changed) await pruneRenewals(context, id);
  return result;
}

/**
 * After a new lease: the older epochs' records go (none on a session just created: `fresh`), and the new epoch's
 * record is made so that its first heartbeat is one PUT.
 */
export async function startRenewals(context: SessionsContext, session: Session, { fresh = false } = {}): Promise<void> {
  const { id, owner } = session;
  const lease = session.lease!;
  try {
    if (!fresh) await context.renewals.prune(id, lease.epoch);
    await context.renewals.write(id, { ...lease, owner }, lease.expires_at);
  } catch (error) {
    // The session is the authority: a missing record only costs the holder's first heartbeat a read.
    if (!(error instanceof ConditionNotMet || error instanceof StoreFault)) throw error;
    context.onWarning({ message: 'could not prepare the renewal record of a new lease', key: id, error });
  }
}

/** After a lease ended: its records go (best effort; the sweeper removes what is left). */
export async function pruneRenewals(context: SessionsContext, id: string): Promise<void> {
  try {
    await context.renewals.prune(id);
  } catch (error) {
    if (!(error instanceof StoreFault)) throw error;
    context.onWarning({ message: 'could not delete the renewal records of an ended lease', key: id, error });
  }
}
