import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { UnsupportedMediaType } from '../domain/errors.ts';
import type { Caller } from '../domain/owner.ts';
import { ForbiddenOrigin, type LocalRefusal, MisdirectedRequest, Unauthorized } from './refusals.ts';

/** The caller named on the writes of a server without tokens, as the contract says. */
export const LOCAL_ACTOR = 'local';

/** A token's label: what its writes record as `updated_by`. */
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Shortest token accepted: 16 characters (`openssl rand -hex 16` gives 32). */
export const MIN_TOKEN_LENGTH = 16;

/** What a token may do: a runner changes its tenant's sessions; an operator changes (and reads) every session. */
export type TokenRole = 'runner' | 'operator';

/** One bearer token the server accepts, and who presents it. */
export interface AccessToken {
  label: string;
  token: string;
  /** The owner of the sessions the token creates; a token without one is an operator, owning as its label. */
  tenant?: string | undefined;
  /** Default: `runner` with a tenant, `operator` without. */
  role?: TokenRole | undefined;
}

/** Who a token's bearer is to the ownership rules: its label is the actor, its tenant (else its label) the owner. */
export function tokenCaller({ label, tenant, role }: AccessToken): Caller {
  return { actor: label, owner: tenant ?? label, operator: (role ?? (tenant === undefined ? 'operator' : 'runner')) === 'operator' };
}

/** The caller of a server without tokens (loopback only): `local`, an operator. */
export const LOCAL_CALLER: Caller = { actor: 'local', owner: 'local', operator: true };

/** A token list that cannot be used; the message says what to fix. */
export class TokenConfigError extends Error {
  override readonly name = 'TokenConfigError';
}

/**
 * The tokens of a `LOCAL_TOKEN_FILE`: one `LABEL:TOKEN[:TENANT[:ROLE]]` per
 * line (blank lines and `#` comments skipped), or a file holding a single
 * bare token, labelled `local`. A line with a tenant is a runner of that
 * tenant unless ROLE is `operator`; a line without one is an operator. Labels
 * and tenants are 1–64 of `A-Z a-z 0-9 . _ @ -`; tokens at least 16
 * characters without spaces (in a file, without colons either); neither labels nor tokens may repeat.
 * @throws TokenConfigError naming the line at fault.
 */
export function parseTokenFile(text: string, source = 'LOCAL_TOKEN_FILE'): AccessToken[] {
  const lines = text
    .split(/\r?\n/)
    .map((line, index) => ({ line: line.trim(), number: index + 1 }))
    .filter(({ line }) => line !== '' && !line.startsWith('#'));
  if (lines.length === 1 && !lines[0]!.line.includes(':')) return [singleToken(lines[0]!.line, `${source} line ${lines[0]!.number}`)];
  const tokens = lines.map(({ line, number }) => {
    const fields = line.split(':').map((field) => field.trim());
    const [label, token, tenant, role, ...rest] = fields;
    const where = `${source} line ${number}`;
    if (token === undefined || rest.length > 0) throw new TokenConfigError(`${where}: expected LABEL:TOKEN[:TENANT[:ROLE]]`);
    if (tenant !== undefined && !LABEL.test(tenant))
      throw new TokenConfigError(`${where}: the tenant must be 1-64 of A-Z a-z 0-9 . _ @ - (starting with a letter or digit)`);
    if (role !== undefined && role !== 'runner' && role !== 'operator')
      throw new TokenConfigError(`${where}: the role must be runner or operator, got ${JSON.stringify(role)}`);
    return checkedToken(
      { label: label!, token, ...(tenant === undefined ? {} : { tenant }), ...(role === undefined ? {} : { role }) },
      where,
    );
  });
  if (tokens.length === 0) throw new TokenConfigError(`${source} holds no token`);
  const labels = new Set(tokens.map(({ label }) => label));
  const secrets = new Set(tokens.map(({ token }) => token));
  if (labels.size !== tokens.length) throw new TokenConfigError(`${source}: a label is given twice`);
  if (secrets.size !== tokens.length) throw new TokenConfigError(`${source}: a token is given twice`);
  return tokens;
}

/** The token of `LOCAL_TOKEN`, labelled `local`. @throws TokenConfigError when it is too short. */
export function singleToken(token: string, source = 'LOCAL_TOKEN'): AccessToken {
  return checkedToken({ label: LOCAL_ACTOR, token: token.trim() }, source);
}

function checkedToken(entry: AccessToken, source: string): AccessToken {
  if (!LABEL.test(entry.label))
    throw new TokenConfigError(`${source}: the label must be 1-64 of A-Z a-z 0-9 . _ @ - (starting with a letter or digit)`);
  if (entry.token.length < MIN_TOKEN_LENGTH || /\s/.test(entry.token)) {
    throw new TokenConfigError(`${source}: a token must be at least ${MIN_TOKEN_LENGTH} characters without spaces`);
  }
  return entry;
}

/** True for the names and addresses that reach only this machine: `localhost`, 127.0.0.0/8, `::1`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
}

/** How a host is written in a `Host` header or an origin: IPv6 addresses in brackets. */
function hostForm(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host.toLowerCase();
}

/**
 * Who may call a local server and how: the `Host` names it answers for, the
 * bearer tokens it accepts (none: no authentication, loopback only), and the
 * rule that state-changing requests come from its own origin as JSON.
 */
export class AccessPolicy {
  readonly #hosts: Set<string>;
  readonly #tokens: ReadonlyArray<{ caller: Caller; digest: Buffer }>;

  /**
   * @param names - Host names or addresses the server is reached by, besides `127.0.0.1`, `localhost` and `[::1]`.
   * @param port - The port it listens on; a `Host` must carry it (or omit it when it is 80).
   */
  constructor({ names, port, tokens }: { names: readonly string[]; port: number; tokens: readonly AccessToken[] }) {
    this.#hosts = new Set(['127.0.0.1', 'localhost', '::1', ...names].flatMap((name) => hostValues(hostForm(name), port)));
    this.#tokens = tokens.map((entry) => ({ caller: tokenCaller(entry), digest: digest(entry.token) }));
  }

  /** The `Host` values this server answers to. */
  get hosts(): string[] {
    return [...this.#hosts];
  }

  /** Whether callers must present a bearer token. */
  get authenticates(): boolean {
    return this.#tokens.length > 0;
  }

  /**
   * The caller of a request: its bearer token's (the label, and the tenant or
   * role it was given), or `local`, an operator, when the server has no
   * tokens; else why the request is refused.
   */
  admit(method: string, headers: IncomingHttpHeaders): { caller: Caller } | LocalRefusal | UnsupportedMediaType {
    const host = headers.host?.toLowerCase();
    if (host === undefined || !this.#hosts.has(host)) return new MisdirectedRequest(headers.host, this.hosts);
    const caller = this.#caller(headers.authorization);
    if (caller instanceof Unauthorized) return caller;
    if (!SAFE_METHODS.has(method)) {
      // A browser sends Origin on every cross-origin POST: refusing foreign ones stops CSRF, body or no body.
      const origin = headers.origin;
      // https too: behind a TLS-terminating proxy (LOCAL_HOST_NAMES) the page's origin is https://<host>.
      if (origin !== undefined && !OWN_ORIGIN_SCHEMES.some((scheme) => origin.toLowerCase() === `${scheme}//${host}`))
        return new ForbiddenOrigin(origin);
      // Forms can send only urlencoded, multipart or text/plain without a preflight: a JSON API needs none of them.
      const contentType = headers['content-type'];
      if (contentType !== undefined && !JSON_MEDIA_TYPE.test(contentType)) return new UnsupportedMediaType(contentType);
    }
    return { caller };
  }

  #caller(authorization: string | undefined): Caller | Unauthorized {
    if (this.#tokens.length === 0) return LOCAL_CALLER;
    const presented = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
    if (presented === undefined) return new Unauthorized(authorization !== undefined);
    const sent = digest(presented);
    // Every token is compared, in constant time over equal-length digests, so timing tells nothing of which matched.
    let caller: Caller | undefined;
    for (const token of this.#tokens) if (timingSafeEqual(token.digest, sent) && caller === undefined) caller = token.caller;
    return caller ?? new Unauthorized(true);
  }
}

/** The schemes of the server's own origin: itself, or a TLS-terminating proxy in front. */
const OWN_ORIGIN_SCHEMES = ['http:', 'https:'];

/** Methods that change nothing; every other method is held to the origin and media-type rule. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** As the handlers accept it (lib/http/request-body.ts): `application/json`, parameters allowed. */
const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

function hostValues(host: string, port: number): string[] {
  return port === 80 ? [`${host}:80`, host] : [`${host}:${port}`];
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf-8').digest();
}
