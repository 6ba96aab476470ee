import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { type Alarm, ComparisonOperator, type IAlarmAction, MathExpression, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';

/** Properties of {@link SessionsAlarms}. */
export interface SessionsAlarmsProps {
  readonly api: HttpApi;
  /** CloudWatch namespace of the handlers' EMF metrics. */
  readonly metricsNamespace: string;
  /** Value of the handlers' `service` metric dimension. */
  readonly serviceName: string;
  /** Alarm when more than this percentage of requests in 5 minutes answer 5xx. */
  readonly serverErrorRatePercent: number;
  /** Notified when an alarm fires and when it clears. */
  readonly actions: readonly IAlarmAction[];
}

/**
 * The alarms an operator needs: the API answering 5xx, and sessions whose
 * compare-and-swap retries ran out (callers got 503 `conflict_retry`).
 */
export class SessionsAlarms extends Construct {
  /** 5xx responses as a percentage of all requests, over 5 minutes. */
  readonly serverErrorRate: Alarm;
  /** Any change that exhausted its compare-and-swap attempts in 5 minutes. */
  readonly casRetriesExhausted: Alarm;

  constructor(scope: Construct, id: string, props: SessionsAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);

    this.serverErrorRate = new MathExpression({
      label: '5xx responses (% of requests)',
      // FILL: a period with requests but no 5xx datapoint is 0 %, not missing.
      expression: '100 * FILL(errors, 0) / requests',
      usingMetrics: {
        errors: props.api.metricServerError({ period, statistic: 'Sum' }),
        requests: props.api.metricCount({ period, statistic: 'Sum' }),
      },
      period,
    }).createAlarm(this, 'ServerErrorRate', {
      alarmDescription: `More than ${props.serverErrorRatePercent}% of API requests answered 5xx in 5 minutes.`,
      threshold: props.serverErrorRatePercent,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    this.casRetriesExhausted = new Metric({
      namespace: props.metricsNamespace,
      metricName: 'CasRetriesExhausted',
      dimensionsMap: { service: props.serviceName },
      statistic: 'Sum',
      period,
    }).createAlarm(this, 'CasRetriesExhausted', {
      alarmDescription:
        'A session change ran out of compare-and-swap attempts and answered 503 conflict_retry: ' +
        'writers contend on one session beyond what CAS_MAX_ATTEMPTS absorbs.',
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    for (const alarm of [this.serverErrorRate, this.casRetriesExhausted]) {
      alarm.addAlarmAction(...props.actions);
      alarm.addOkAction(...props.actions);
    }
  }
}
