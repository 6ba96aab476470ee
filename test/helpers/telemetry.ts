import { afterEach, beforeEach, vi } from 'vitest';

/** One JSON line the Powertools logger wrote. */
export type LogLine = Record<string, any> & { level: string; message: string };

/** One Embedded Metric Format blob the Powertools metrics wrote. */
export interface EmfBlob {
  _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
  [key: string]: any;
}

export interface Telemetry {
  /** Log lines written since the test began. */
  logs(): LogLine[];
  /** EMF blobs written since the test began. */
  metrics(): EmfBlob[];
  /** The values of metric `name`, across every blob, with the blob's dimension names. */
  metric(name: string): Array<{ value: number; dimensions: string[][]; blob: EmfBlob }>;
  /** Everything written, as text. */
  text(): string;
}

/**
 * Captures (and silences) what the handlers write to stdout and stderr during
 * each test: Powertools logs and EMF metrics, one JSON document per line.
 * Call at the top level of a test file.
 */
export function captureTelemetry(): Telemetry {
  let chunks: string[] = [];
  beforeEach(() => {
    chunks = [];
    for (const stream of [process.stdout, process.stderr]) {
      vi.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array) => {
        chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf-8'));
        return true;
      }) as typeof stream.write);
    }
  });
  afterEach(() => {
    vi.mocked(process.stdout.write).mockRestore();
    vi.mocked(process.stderr.write).mockRestore();
  });

  const documents = (): Array<Record<string, any>> =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line.trim().startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, any>);

  const metrics = () => documents().filter((doc): doc is EmfBlob => doc._aws !== undefined);
  return {
    logs: () => documents().filter((doc): doc is LogLine => doc._aws === undefined && typeof doc.level === 'string'),
    metrics,
    metric: (name) =>
      metrics().flatMap((blob) =>
        blob._aws.CloudWatchMetrics.some((set) => set.Metrics.some((metric) => metric.Name === name))
          ? [{ value: blob[name] as number, dimensions: blob._aws.CloudWatchMetrics[0]!.Dimensions, blob }]
          : [],
      ),
    text: () => chunks.join(''),
  };
}
