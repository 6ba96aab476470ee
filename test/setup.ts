import 'aws-sdk-client-mock-vitest/extend';

/**
 * The service's own log lines and metric blobs (one JSON document per line, from Powertools)
 * are dropped unless a test captures them (test/helpers/telemetry.ts spies on the streams and
 * so replaces this filter while it listens): a passing run prints the test report, not thousands
 * of request logs. Anything else written to the streams passes through.
 */
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : '';
    if (isServiceTelemetry(text)) {
      const callback = rest.find((argument) => typeof argument === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

function isServiceTelemetry(text: string): boolean {
  return text.startsWith('{') && (text.includes('"service":"runner-sessions"') || text.includes('"CloudWatchMetrics"'));
}
