/**
 * Credential redaction for any text that may leave the process (log lines,
 * error messages): no layer-specific imports, so the service and the client
 * can both use it.
 *
 * @module
 */

/**
 * Credentials as they can appear in an error's text: the session token and
 * signature of a signed request that S3 echoes back (SignatureDoesNotMatch),
 * and anything shaped like a secret access key or session token.
 */
const CREDENTIALS: readonly [RegExp, string][] = [
  [/(x-amz-security-token\s*[:=]\s*)[^\s&"',;]+/gi, '$1[REDACTED]'],
  [/((?:x-amz-signature|signature|signatureprovided)\s*[:=]\s*)[^\s&"',;]+/gi, '$1[REDACTED]'],
];

/** A run of 40 or more base64 characters: a secret access key is 40, a session token hundreds. */
const BASE64_RUN = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40,}={0,2}(?![A-Za-z0-9/+=])/g;

/** `text` with anything that looks like a credential replaced by `[REDACTED]`. */
export function redactCredentials(text: string): string {
  const redacted = CREDENTIALS.reduce((result, [pattern, replacement]) => result.replace(pattern, replacement), text);
  // Mixed case and digits, as random key material has; keys, paths and hex IDs of the service have not.
  return redacted.replace(BASE64_RUN, (run) => (/[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run) ? '[REDACTED]' : run));
}
