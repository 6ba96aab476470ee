import type {
  APIGatewayEventRequestContextIAMAuthorizer,
  APIGatewayEventRequestContextV2,
  APIGatewayProxyEventV2WithRequestContext,
  Context,
} from 'aws-lambda';
import { type Caller, ownerOfPrincipal } from '../domain/owner.ts';

/** Who the local server admitted (lib/local/gateway.ts sets it; only the local server's dependencies read it). */
export interface LocalAuthorizer {
  owner: string;
  operator: boolean;
}

/**
 * An API Gateway HTTP API event (payload format 2.0), with the IAM authorizer
 * block when the route is authorised by IAM. Events without an authorizer
 * (tests) are accepted as they are. The local server adds its own `local`
 * block, which only a handler built for the local server reads.
 */
export type HttpEvent = APIGatewayProxyEventV2WithRequestContext<
  APIGatewayEventRequestContextV2 & {
    authorizer?: { iam?: Partial<APIGatewayEventRequestContextIAMAuthorizer['iam']>; local?: LocalAuthorizer };
  }
>;

/** How a route's handler tells who its caller is, from the event. */
export type CallerResolver = (event: HttpEvent) => Caller;

/** The owner of what a caller without an IAM principal creates (an event without an authorizer: only tests send one). */
export const ANONYMOUS_OWNER = 'anonymous';

/**
 * The caller as API Gateway's IAM authorizer names it: its principal is the
 * actor; its owner that principal normalised (an assumed-role session owns as
 * its role); an operator when that owner, or the principal itself, is one of
 * `operators`. Nothing a client sends can change it: API Gateway fills
 * `requestContext.authorizer.iam` from the signature it verified.
 */
export function iamCaller(operators: ReadonlySet<string>): CallerResolver {
  return (event) => {
    const actor = callerOf(event);
    if (actor === undefined) return { actor, owner: ANONYMOUS_OWNER, operator: false };
    const owner = ownerOfPrincipal(actor);
    return { actor, owner, operator: operators.has(owner) || operators.has(actor) };
  };
}

/**
 * The caller as the local server admitted it (the token's label is the
 * actor; its tenant, or the role it was given, decide the rest). Only the
 * local server builds its handlers with this resolver.
 */
export const localCaller: CallerResolver = (event) => {
  const actor = callerOf(event);
  const local = event.requestContext?.authorizer?.local;
  if (local === undefined) return { actor, owner: actor ?? ANONYMOUS_OWNER, operator: false };
  return { actor, owner: local.owner, operator: local.operator };
};

/**
 * Who made the request: the ARN of the IAM principal that signed it
 * (`requestContext.authorizer.iam.userArn`), or undefined when the request
 * carries no IAM authorizer. The local server names its caller by setting
 * that field itself (for example to `local`).
 */
export function callerOf(event: HttpEvent): string | undefined {
  const userArn = event.requestContext?.authorizer?.iam?.userArn;
  return typeof userArn === 'string' && userArn !== '' ? userArn : undefined;
}

/** The ID the caller can quote: API Gateway's request ID (its `apigw-requestid` header), else Lambda's. */
export function requestIdOf(event: HttpEvent, context: Pick<Context, 'awsRequestId'>): string {
  return event.requestContext?.requestId || context.awsRequestId;
}
