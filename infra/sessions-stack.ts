import { type App, CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { SessionsApi, type SessionsApiProps } from './sessions-api.ts';

/** Properties of {@link SessionsStack}. */
export interface SessionsStackProps extends StackProps {
  /** Tuning of the service; see {@link SessionsApiProps}. */
  readonly service?: SessionsApiProps;
}

/** A deployable stack holding one {@link SessionsApi}, with its URL and bucket name as outputs. */
export class SessionsStack extends Stack {
  /** The service construct. */
  readonly service: SessionsApi;

  constructor(scope: Construct, id: string, props: SessionsStackProps = {}) {
    super(scope, id, props);
    this.service = new SessionsApi(this, 'Service', props.service);

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the HTTP API; every request must be SigV4-signed for the execute-api service.',
      value: this.service.url,
    });
    new CfnOutput(this, 'BucketName', {
      description: 'The bucket holding one object per session (sessions/<id>.json); retained when the stack is deleted.',
      value: this.service.storage.bucket.bucketName,
    });
    new CfnOutput(this, 'LeasesBucketName', {
      description:
        'Soft state, no versions: lease renewal records (leases/), announced cursors (announced/), the status index (status/, indexes/).',
      value: this.service.leases.bucket.bucketName,
    });
    new CfnOutput(this, 'EventBusName', {
      description: 'The EventBridge bus of the session events (source runner-sessions); subscribe with rules on it.',
      value: this.service.events.bus.eventBusName,
    });
    new CfnOutput(this, 'EventBusArn', {
      description: 'The ARN of the session events bus, for rules and cross-account subscriptions.',
      value: this.service.events.bus.eventBusArn,
    });
  }
}

/** Name of the deployed CloudFormation stack. */
export const STACK_NAME = 'RunnerSessions';

/**
 * Adds the service stack to `app` and registers the cdk-nag AWS Solutions
 * checks, so every synth fails on a finding that is not acknowledged.
 * The stack is environment-agnostic: synth needs no AWS account.
 */
export function defineSessionsApp(app: App, props: SessionsStackProps = {}): SessionsStack {
  const stack = new SessionsStack(app, STACK_NAME, {
    description: 'runner-sessions: session tracking for remote job runners',
    ...props,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
