import type {
  APIGatewayEventRequestContextIAMAuthorizer,
  APIGatewayEventRequestContextV2,
  APIGatewayProxyEventV2WithRequestContext,
  Context,
} from 'aws-lambda';

/**
 * An API Gateway HTTP API event (payload format 2.0), with the IAM authorizer
 * block when the route is authorised by IAM. Events without an authorizer
 * (the local server, tests) are accepted as they are.
 */
export type HttpEvent = APIGatewayProxyEventV2WithRequestContext<
  APIGatewayEventRequestContextV2 & { authorizer?: { iam?: Partial<APIGatewayEventRequestContextIAMAuthorizer['iam']> } }
>;

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
