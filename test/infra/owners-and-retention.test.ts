import { readFileSync } from 'node:fs';
import { App, CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Group, type IGrantable, Role, ServicePrincipal, User } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { ENDED_TAG, ENDED_TAGGING } from '#lib/domain/retention.ts';
import { API_ROUTES } from '#lib/http/route-table.ts';
import { RUNNER_OPERATIONS } from '../../infra/routes.ts';
import type { SessionsApiProps } from '../../infra/sessions-api.ts';
import { defineSessionsApp, type SessionsStack } from '../../infra/sessions-stack.ts';

const CDK_CONTEXT = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context as Record<string, unknown>;
type Json = Record<string, any>;

/** The stack as `cdk synth` builds it, with `before` run on it before the template is made (grants, roles). */
function synthesize(service: SessionsApiProps = {}, before: (stack: SessionsStack) => void = () => {}) {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = defineSessionsApp(app, { service });
  before(stack);
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, Json>;
  return { app, stack, resources };
}

function logicalId(construct: IConstruct): string {
  const element = construct.node.defaultChild ?? construct;
  if (!CfnElement.isCfnElement(element)) throw new Error(`${construct.node.path} has no CloudFormation element`);
  return element.stack.resolve(element.logicalId) as string;
}

const functionsOf = (resources: Record<string, Json>) => Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
const rulesOf = (resources: Record<string, Json>, bucket: IConstruct): Json[] =>
  resources[logicalId(bucket)]!.Properties.LifecycleConfiguration.Rules;

describe('retention', () => {
  it('tags an ending write with one tag that the lifecycle filter names, in the query form of a PutObject Tagging', () => {
    expect(Object.fromEntries(new URLSearchParams(ENDED_TAGGING))).toEqual({ [ENDED_TAG.key]: ENDED_TAG.value });
  });

  it.each([
    [{}, 90, 90],
    [{ retentionDays: 30 }, 30, 30],
    [{ retentionDays: 3650 }, 3650, 90],
    [{ retentionDays: 1, idempotencyWindowSeconds: 3600, noncurrentVersionExpirationDays: 1 }, 1, 1],
  ] as const)(
    '%o: ended sessions expire after %i days, replaced versions after %i, ended status entries a day after the sessions',
    (props, days, noncurrent) => {
      const { stack, resources } = synthesize(props);
      const sessionRules = rulesOf(resources, stack.service.storage.bucket);
      expect(sessionRules).toContainEqual({
        Id: 'ExpireEndedSessions',
        Status: 'Enabled',
        Prefix: 'sessions/',
        TagFilters: [{ Key: 'runner-sessions:ended', Value: 'true' }],
        ExpirationInDays: days,
        NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      });
      expect(sessionRules).toContainEqual(
        expect.objectContaining({ Id: 'ExpireNoncurrentVersions', NoncurrentVersionExpiration: { NoncurrentDays: noncurrent } }),
      );
      expect(rulesOf(resources, stack.service.leases.bucket).filter((rule) => rule.Prefix.startsWith('status/'))).toEqual([
        { Id: 'ExpireCompletedStatusEntries', Status: 'Enabled', Prefix: 'status/completed/', ExpirationInDays: days + 1 },
        { Id: 'ExpireTerminatedStatusEntries', Status: 'Enabled', Prefix: 'status/terminated/', ExpirationInDays: days + 1 },
      ]);
      for (const [id, fn] of functionsOf(resources)) expect(fn.Properties.Environment.Variables.RETENTION_DAYS, id).toBe(String(days));
    },
  );

  it("keeps ended sessions forever with 'forever': no retention rule, no RETENTION_DAYS, replaced versions after 90 days", () => {
    const { stack, resources } = synthesize({ retentionDays: 'forever', noncurrentVersionExpirationDays: 400 });
    const sessionRules = rulesOf(resources, stack.service.storage.bucket);
    expect(sessionRules.map((rule) => rule.Id)).toEqual(['ExpireNoncurrentVersions', 'ExpireIdempotencyRecords']);
    expect(sessionRules[0]).toMatchObject({ NoncurrentVersionExpiration: { NoncurrentDays: 400 }, ExpiredObjectDeleteMarker: true });
    expect(rulesOf(resources, stack.service.leases.bucket).map((rule) => rule.Id)).toEqual(['ExpireAbandonedRenewals']);
    for (const [id, fn] of functionsOf(resources)) expect(fn.Properties.Environment.Variables, id).not.toHaveProperty('RETENTION_DAYS');
  });

  it.each([
    [{ retentionDays: 0 }, /retentionDays must be a whole number of days from 1 to 3650, or 'forever'; got 0/],
    [{ retentionDays: 3651 }, /from 1 to 3650/],
    [{ retentionDays: 1.5 }, /from 1 to 3650/],
    [{ retentionDays: Number.NaN }, /from 1 to 3650/],
    [{ retentionDays: 'always' as 'forever' }, /from 1 to 3650/],
    [
      { retentionDays: 30, noncurrentVersionExpirationDays: 31 },
      /noncurrentVersionExpirationDays \(31\) must not exceed retentionDays \(30\)/,
    ],
    [{ retentionDays: 2, idempotencyWindowSeconds: 3 * 86_400 }, /idempotencyWindowSeconds \(3 days\) must not exceed retentionDays \(2\)/],
  ])('refuses %o at synth time', (service, message) => {
    expect(() => synthesize(service)).toThrow(message);
  });
});

const ROLE = 'arn:aws:iam::111122223333:role/fleet/runner-operators';
const USER = 'arn:aws:iam::111122223333:user/ops/alice';

describe('owners and operators', () => {
  it("passes SESSION_READERS ('account' by default) and the operators, a role without its path, to every function", () => {
    const defaults = synthesize();
    for (const [id, fn] of functionsOf(defaults.resources)) {
      expect(fn.Properties.Environment.Variables, id).toMatchObject({ SESSION_READERS: 'account', OPERATOR_PRINCIPALS: '' });
    }
    const named = synthesize({ readers: 'owner', operators: [ROLE, USER, ROLE] });
    const functions = functionsOf(named.resources);
    // The routes' functions, the sweeper and the announcer.
    expect(functions).toHaveLength(API_ROUTES.length + 2);
    for (const [id, fn] of functions) {
      expect(fn.Properties.Environment.Variables, id).toMatchObject({
        SESSION_READERS: 'owner',
        OPERATOR_PRINCIPALS: `arn:aws:iam::111122223333:role/runner-operators,${USER}`,
      });
    }
  });

  it.each([
    [{ readers: 'everyone' as 'owner' }, /readers must be 'account' or 'owner'/],
    [{ operators: ['arn:aws:sts::111122223333:assumed-role/ops/alice'] }, /not an IAM role or user ARN/],
    [{ operators: ['arn:aws:iam::111122223333:root'] }, /not an IAM role or user ARN/],
    [{ operators: ['ops'] }, /not an IAM role or user ARN/],
    [{ operators: ['arn:aws:iam::111122223333:role/a,b'] }, /holds a comma/],
  ])('refuses %o at synth time', (service, message) => {
    expect(() => synthesize(service)).toThrow(message);
  });

  /** The execute-api:Invoke resources the grantee's policies allow, resolved to `METHOD /path` with the API and stage parts checked. */
  function invokedRoutes(stack: SessionsStack, resources: Record<string, Json>, grantee: IConstruct): string[] {
    const apiId = logicalId(stack.service.httpApi);
    const granteeId = logicalId(grantee);
    const statements = Object.values(resources)
      .filter(
        (r) =>
          r.Type === 'AWS::IAM::Policy' &&
          [...(r.Properties.Roles ?? []), ...(r.Properties.Users ?? [])].some((x: Json) => x.Ref === granteeId),
      )
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
    expect(statements.map((statement) => statement.Action)).toEqual(['execute-api:Invoke']);
    return [statements[0].Resource]
      .flat()
      .map((resource: Json) => {
        const [, parts] = resource['Fn::Join'];
        const text = parts.map((part: unknown) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
        const prefix = `arn:{"Ref":"AWS::Partition"}:execute-api:{"Ref":"AWS::Region"}:{"Ref":"AWS::AccountId"}:{"Ref":"${apiId}"}/$default/`;
        expect(text.startsWith(prefix), text).toBe(true);
        const [method, ...path] = text.slice(prefix.length).split('/');
        return `${method} /${path.join('/')}`;
      })
      .sort();
  }

  const ID = '?'.repeat(32);
  const asGranted = (routeKey: string) => routeKey.replace('{id}', ID);

  it('grantRunner allows exactly the routes a runner uses: not restore, not an owner change, nothing unmarked', () => {
    let runner!: Role;
    const { stack, resources } = synthesize({}, (stack) => {
      runner = new Role(stack, 'Runner', { assumedBy: new AccountRootPrincipal() });
      stack.service.grantRunner(runner);
    });
    const expected = API_ROUTES.filter((route) => RUNNER_OPERATIONS.has(route.docs.operationId)).map((route) => asGranted(route.routeKey));
    expect(invokedRoutes(stack, resources, runner)).toEqual(expected.sort());
    expect(expected).not.toContain(asGranted('POST /sessions/{id}/restore'));
    expect(expected).toHaveLength(8);
    // A runner is no operator.
    for (const [id, fn] of functionsOf(resources)) expect(fn.Properties.Environment.Variables.OPERATOR_PRINCIPALS, id).toBe('');
  });

  it('grantOperator allows every route and names the role (without its path) or user among the operators, granted after construction too', () => {
    let operator!: Role;
    let user!: User;
    const { stack, resources } = synthesize({ operators: [USER] }, (stack) => {
      operator = new Role(stack, 'Operator', { assumedBy: new AccountRootPrincipal(), path: '/ops/' });
      user = new User(stack, 'OnCall');
      stack.service.grantOperator(operator);
      stack.service.grantOperator(user);
      stack.service.grantOperator(Role.fromRoleArn(stack, 'Imported', 'arn:aws:iam::444455556666:role/team/auditor', { mutable: false }));
    });
    expect(invokedRoutes(stack, resources, operator)).toEqual(API_ROUTES.map((route) => asGranted(route.routeKey)).sort());
    expect(invokedRoutes(stack, resources, user)).toEqual(API_ROUTES.map((route) => asGranted(route.routeKey)).sort());
    for (const [id, fn] of functionsOf(resources)) {
      expect(fn.Properties.Environment.Variables.OPERATOR_PRINCIPALS, id).toEqual({
        'Fn::Join': [
          '',
          [
            `${USER},arn:`,
            { Ref: 'AWS::Partition' },
            ':iam::',
            { Ref: 'AWS::AccountId' },
            ':role/',
            { Ref: logicalId(operator) },
            ',',
            { 'Fn::GetAtt': [logicalId(user), 'Arn'] },
            ',arn:aws:iam::444455556666:role/auditor',
          ],
        ],
      });
    }
  });

  it('refuses to make an operator of a principal whose ARN it cannot know', () => {
    const service = new ServicePrincipal('lambda.amazonaws.com');
    expect(() => synthesize({}, (stack) => stack.service.grantOperator({ grantPrincipal: service } satisfies IGrantable))).toThrow(
      /grantOperator needs an IAM role or user/,
    );
    expect(() => synthesize({}, (stack) => stack.service.grantOperator(new Group(stack, 'Ops')))).toThrow(
      /grantOperator needs an IAM role or user/,
    );
  });

  it('adds no cdk-nag finding for a runner or an operator grant', () => {
    const { app } = synthesize({}, (stack) => {
      stack.service.grantRunner(new Role(stack, 'Runner', { assumedBy: new AccountRootPrincipal() }));
      stack.service.grantOperator(new Role(stack, 'Operator', { assumedBy: new AccountRootPrincipal() }));
    });
    const findings = new AwsSolutionsChecks().validateScope(app).violations;
    expect(findings.map((finding) => `${finding.ruleName} ${finding.violatingResources.map((r) => r.constructPath).join(' ')}`)).toEqual(
      [],
    );
  });
});
