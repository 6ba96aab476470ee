import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/core/protocols';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { SessionsConfigError } from './errors.ts';

/** AWS credentials, as the SDK's credential providers return them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  expiration?: Date | undefined;
}

/** Resolves (and, for temporary credentials, refreshes) AWS credentials. */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

/** The API Gateway signing name. */
export const SIGNING_SERVICE = 'execute-api';

/** A request as the client is about to send it. */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string | undefined;
}

/**
 * The region an API Gateway hostname names:
 * `{api}.execute-api.{region}.amazonaws.com` (also `.com.cn` and private `….vpce.amazonaws.com`).
 * Undefined for custom domains.
 */
export function regionFromHostname(hostname: string): string | undefined {
  return /\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/.exec(hostname.toLowerCase())?.[1];
}

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and `::1`: the local server, which does not check signatures. */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || /^127(?:\.\d{1,3}){3}$/.test(host) || host === '[::1]';
}

/**
 * The region to sign for: the explicit option, else the one the execute-api
 * hostname names (it is where the API lives, whatever the machine's default
 * region is), else `AWS_REGION` / `AWS_DEFAULT_REGION`.
 * @throws SessionsConfigError when none of them gives one.
 */
export function resolveRegion(url: URL, region: string | undefined, env: Record<string, string | undefined>): string {
  const resolved = region ?? regionFromHostname(url.hostname) ?? (env.AWS_REGION || undefined) ?? (env.AWS_DEFAULT_REGION || undefined);
  if (resolved === undefined) {
    throw new SessionsConfigError(`cannot tell the AWS region of ${url.origin}: pass a region or set AWS_REGION`);
  }
  return resolved;
}

/**
 * Signs requests with AWS Signature Version 4 for API Gateway's IAM
 * authorizer. Credentials come from the caller or from the standard chain
 * (environment, SSO, web identity, shared files, ECS/EC2 metadata), resolved
 * on the first request and refreshed by the provider when they expire.
 */
export class RequestSigner {
  readonly #signer: SignatureV4;
  /** The secret parts of the credentials last used, so that `redact` can take them out of any text. */
  readonly #secrets = new Set<string>();

  constructor({ region, credentials }: { region: string; credentials?: AwsCredentials | AwsCredentialsProvider | undefined }) {
    const provider = withClearFailure(credentials ?? defaultProvider());
    this.#signer = new SignatureV4({
      service: SIGNING_SERVICE,
      region,
      credentials: async () => this.#remember(await provider()),
      sha256: Hash.bind(null, 'sha256'),
    });
  }

  /**
   * `text` without the secret key, session token or a signature: API
   * Gateway's 403 for a bad signature quotes the canonical request, and
   * that includes `x-amz-security-token`.
   */
  redact(text: string): string {
    let redacted = text
      .replace(/(x-amz-security-token\s*[:=]\s*)[^\s'",&]+/gi, '$1[redacted]')
      .replace(/(signature\s*[:=]\s*)[0-9a-f]{64}/gi, '$1[redacted]');
    for (const secret of this.#secrets) redacted = redacted.replaceAll(secret, '[redacted]');
    return redacted;
  }

  #remember(credentials: AwsCredentials): AwsCredentials {
    if (!this.#secrets.has(credentials.secretAccessKey)) this.#secrets.clear();
    this.#secrets.add(credentials.secretAccessKey);
    if (credentials.sessionToken) this.#secrets.add(credentials.sessionToken);
    return credentials;
  }

  /** The headers to send: the request's own plus `authorization`, `x-amz-date`, `x-amz-content-sha256` and, for temporary credentials, `x-amz-security-token`. */
  async sign(request: OutgoingRequest): Promise<Record<string, string>> {
    const { url } = request;
    const signed = await this.#signer.sign(
      new HttpRequest({
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port === '' ? {} : { port: Number(url.port) }),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: { ...request.headers, host: url.host },
        body: request.body,
      }),
    );
    // fetch sends the Host the URL names, which is the one signed.
    const { host: _host, ...headers } = signed.headers;
    return headers;
  }
}

function withClearFailure(credentials: AwsCredentials | AwsCredentialsProvider): AwsCredentialsProvider {
  if (typeof credentials !== 'function') return async () => credentials;
  return async () => {
    try {
      return await credentials();
    } catch (error) {
      throw new SessionsConfigError(
        'no AWS credentials found to sign the request: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an instance or task role is available',
        { cause: error },
      );
    }
  };
}
