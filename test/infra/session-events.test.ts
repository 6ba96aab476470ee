import { readFileSync } from 'node:fs';
import { App, CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineSessionsApp, type SessionsStack } from '../../infra/sessions-stack.ts';

const CDK_CONTEXT = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context as Record<string, unknown>;
type Json = Record<string, any>;

function logicalId(construct: IConstruct): string {
  const element = construct.node.defaultChild ?? construct;
  if (!CfnElement.isCfnElement(element)) throw new Error(`${construct.node.path} has no CloudFormation element`);
  return element.stack.resolve(element.logicalId) as string;
}

describe('SessionEvents, in the RunnerSessions stack', () => {
  let stack: SessionsStack;
  let template: Template;
  let resources: Record<string, Json>;
  let ids: { bus: string; queue: string; fn: string; role: string; logs: string; sessions: string; leases: string; rule: string };

  beforeAll(() => {
    const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
    stack = defineSessionsApp(app);
    template = Template.fromStack(stack);
    resources = template.toJSON().Resources;
    const { events, storage, leases } = stack.service;
    ids = {
      bus: logicalId(events.bus),
      queue: logicalId(events.deadLetters),
      fn: logicalId(events.announcer.function),
      role: logicalId(events.announcer.role),
      logs: logicalId(events.announcer.logGroup),
      sessions: logicalId(storage.bucket),
      leases: logicalId(leases.bucket),
      rule: logicalId(events.rule),
    };
  });

  it('turns on EventBridge notifications of the sessions bucket, without a notifications custom resource', () => {
    expect(resources[ids.sessions]!.Properties.NotificationConfiguration).toEqual({
      EventBridgeConfiguration: { EventBridgeEnabled: true },
    });
    expect(resources[ids.leases]!.Properties.NotificationConfiguration).toBeUndefined();
    template.resourceCountIs('Custom::S3BucketNotifications', 0);
  });

  it('has its own event bus', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    expect(resources[ids.bus]!.Type).toBe('AWS::Events::EventBus');
  });

  it('runs the announcer on Object Created events of sessions/ in the sessions bucket, on the default bus, dead-lettering what it cannot deliver', () => {
    const rule = resources[ids.rule]!.Properties;
    expect(rule.EventBusName).toBeUndefined();
    expect(rule.EventPattern).toEqual({
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: { bucket: { name: [{ Ref: ids.sessions }] }, object: { key: [{ prefix: 'sessions/' }] } },
    });
    expect(rule.Targets).toEqual([
      {
        Arn: { 'Fn::GetAtt': [ids.fn, 'Arn'] },
        Id: 'Target0',
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [ids.queue, 'Arn'] } },
        RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 8 },
      },
    ]);
  });

  it('runs one announcer at a time, with its failed asynchronous invocations sent to the dead-letter queue', () => {
    const fn = resources[ids.fn]!.Properties;
    expect(fn.ReservedConcurrentExecutions).toBe(1);
    expect(fn.Environment.Variables).toMatchObject({
      SESSIONS_BUCKET: { Ref: ids.sessions },
      LEASES_BUCKET: { Ref: ids.leases },
      EVENTS_BUS_NAME: { Ref: ids.bus },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: ids.fn },
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [ids.queue, 'Arn'] } } },
    });
  });

  it('keeps dead letters in an SSE queue that refuses plain HTTP', () => {
    expect(resources[ids.queue]!.Properties.SqsManagedSseEnabled).toBe(true);
    const policies = Object.values(resources).filter((resource) => resource.Type === 'AWS::SQS::QueuePolicy');
    expect(policies.map((policy) => policy.Properties.Queues)).toEqual([[{ Ref: ids.queue }]]);
    expect(policies[0]!.Properties.PolicyDocument.Statement).toEqual([
      {
        Action: 'sqs:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Resource: { 'Fn::GetAtt': [ids.queue, 'Arn'] },
      },
      {
        Sid: expect.stringMatching(/^AllowEventRule/),
        Action: 'sqs:SendMessage',
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ids.rule, 'Arn'] } } },
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Resource: { 'Fn::GetAtt': [ids.queue, 'Arn'] },
      },
    ]);
  });

  it('gives the announcer exactly its logs, its S3 access, PutEvents on its bus only, and sending to its dead-letter queue, all in one inline policy', () => {
    const role = resources[ids.role]!.Properties;
    const sessionsArn = { 'Fn::GetAtt': [ids.sessions, 'Arn'] };
    const leasesArn = { 'Fn::GetAtt': [ids.leases, 'Arn'] };
    const cursors = { 'Fn::Join': ['', [leasesArn, '/announced/*']] };
    expect(role.ManagedPolicyArns).toBeUndefined();
    expect(role.Policies).toHaveLength(1);
    expect(role.Policies[0].PolicyDocument.Statement).toEqual([
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [ids.logs, 'Arn'] },
      },
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: { 'Fn::Join': ['', [sessionsArn, '/sessions/*']] } },
      {
        Effect: 'Allow',
        Action: 's3:ListBucketVersions',
        Resource: sessionsArn,
        Condition: { StringLike: { 's3:prefix': 'sessions/*.json' } },
      },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: cursors },
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: cursors,
        Condition: { Null: { 's3:if-none-match': 'false', 's3:if-match': 'true' } },
      },
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: cursors,
        Condition: { Null: { 's3:if-match': 'false', 's3:if-none-match': 'true' } },
      },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: leasesArn, Condition: { StringLike: { 's3:prefix': 'announced/*.json' } } },
      { Sid: 'PublishSessionEvents', Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [ids.bus, 'Arn'] } },
      { Sid: 'SendFailedInvocations', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [ids.queue, 'Arn'] } },
    ]);
    template.resourceCountIs('AWS::IAM::Policy', 0);
  });

  it('alarms as soon as a dead letter is visible', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids.queue, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'notBreaching',
    });
  });

  it('outputs the bus name and ARN', () => {
    const outputs = template.toJSON().Outputs;
    expect(outputs.EventBusName.Value).toEqual({ Ref: ids.bus });
    expect(outputs.EventBusArn.Value).toEqual({ 'Fn::GetAtt': [ids.bus, 'Arn'] });
  });
});
