import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricsOptions } from '@aws-lambda-powertools/metrics/types';
import type { ErrorCode } from '../domain/errors.ts';
import type { ChangeResult } from '../sessions/repository.ts';

/** The service name on every log line and the `service` dimension of every metric (`POWERTOOLS_SERVICE_NAME` overrides). */
export const SERVICE_NAME = process.env.POWERTOOLS_SERVICE_NAME || 'runner-sessions';
/** The CloudWatch namespace of every metric (`POWERTOOLS_METRICS_NAMESPACE` overrides). */
export const METRICS_NAMESPACE = process.env.POWERTOOLS_METRICS_NAMESPACE || 'RunnerSessions';

/**
 * The metric names the alarms depend on. All are counts with the default
 * `service` dimension, except `Errors`, which also carries a `code` dimension
 * (the error code of the response).
 */
export const MetricName = {
  /** Conditional writes of a change refused because another writer got there first. */
  CasConflicts: 'CasConflicts',
  /** Conditional writes of a change beyond the first. */
  CasRetries: 'CasRetries',
  /** Changes that ran out of attempts and answered 503 `conflict_retry`. */
  CasRetriesExhausted: 'CasRetriesExhausted',
  /** Error responses, one per response, by `code`. */
  Errors: 'Errors',
} as const;

/** Structured JSON logs for every handler; log level from `POWERTOOLS_LOG_LEVEL`. */
export const logger = new Logger({ serviceName: SERVICE_NAME });

const EMPTY_FLUSH_NOTICE = 'No application metrics to publish';

/** Metrics' own notices, in the service log; reads publish no metrics, so the "nothing to publish" notice is debug here. */
const metricsNotices: NonNullable<MetricsOptions['logger']> = {
  debug: (...content) => logger.debug(String(content[0]), ...content.slice(1)),
  info: (...content) => logger.info(String(content[0]), ...content.slice(1)),
  warn: (...content) =>
    String(content[0]).startsWith(EMPTY_FLUSH_NOTICE)
      ? logger.debug(String(content[0]))
      : logger.warn(String(content[0]), ...content.slice(1)),
  error: (...content) => logger.error(String(content[0]), ...content.slice(1)),
};

/** CloudWatch metrics in the Embedded Metric Format, flushed after every request by `logMetrics`. */
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME, logger: metricsNotices });

/** Counts the compare-and-swap work of one completed change (zeros included, so alarms always have data). */
export function recordChange({ attempts, conflicts }: Pick<ChangeResult, 'attempts' | 'conflicts'>): void {
  metrics.addMetric(MetricName.CasConflicts, MetricUnit.Count, conflicts);
  metrics.addMetric(MetricName.CasRetries, MetricUnit.Count, Math.max(0, attempts - 1));
  metrics.addMetric(MetricName.CasRetriesExhausted, MetricUnit.Count, 0);
}

/** Counts a change that ran out of attempts (503 `conflict_retry`). */
export function recordExhaustedChange(attempts: number): void {
  metrics.addMetric(MetricName.CasRetries, MetricUnit.Count, Math.max(0, attempts - 1));
  metrics.addMetric(MetricName.CasRetriesExhausted, MetricUnit.Count, 1);
}

/** Counts one error response under its code; published at once, as its own `[service, code]` metric. */
export function recordError(code: ErrorCode): void {
  const single = metrics.singleMetric();
  single.addDimension('code', code);
  single.addMetric(MetricName.Errors, MetricUnit.Count, 1);
}
