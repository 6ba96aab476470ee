/**
 * 6. Cost per million operations on AWS at list prices (us-east-1), computed
 * from the S3 requests and round trips measured in item 1.
 */

import { dollars, fixed, type Section } from './report.ts';
import type { RequestCountRow, RequestsResult } from './requests.ts';

/** List prices in USD, us-east-1, and where they were read. */
export const PRICES = {
  checked: '2026-11-24',
  s3ClassAPer1000: 0.005,
  s3ClassBPer1000: 0.0004,
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  httpApiPerMillionRequests: 1.0,
  sources: [
    'S3 Standard requests, US East (N. Virginia): PUT, COPY, POST, LIST $0.005 per 1,000; GET, SELECT and all other requests $0.0004 per 1,000 — ' +
      'https://aws.amazon.com/s3/pricing/ (its stored copy renders the rates as template tokens), rates as quoted by ' +
      'https://c3x.dev/blog/s3-request-fees-explained and https://cloudburn.io/blog/amazon-s3-pricing ("as of March 2026", US East)',
    'Lambda, Arm (Graviton): $0.0000133334 per GB-second for the first 7.5 billion GB-seconds a month, $0.20 per million requests, ' +
      'billed per 1 ms — https://aws.amazon.com/lambda/pricing/, rates as quoted by https://cloudchipr.com/blog/aws-lambda-pricing (US East)',
    'API Gateway HTTP APIs: $1.00 per million requests for the first 300 million a month, metered per 512 KB — ' +
      'https://aws.amazon.com/api-gateway/pricing/, rate as quoted by https://www.learnaws.org/2021/01/10/api-gateway-pricing/ and ' +
      'https://awsforengineers.com/blog/aws-api-gateway-pricing-explained (US East)',
  ],
} as const;

/** How long a function runs: the model, since nothing here runs on Lambda. */
export const DURATION_MODEL = {
  /** Memory of every function: the stack's default (`memorySize` in infra/sessions-api.ts). */
  memoryMb: 512,
  /** Assumed wait per sequential S3 round trip from Lambda in the same region. */
  s3RoundTripMs: 20,
  /** Assumed CPU time per invocation at 512 MB (parsing, chain, SDK signing). */
  handlerMs: 3,
} as const;

export interface CostRow {
  operation: string;
  /** S3 requests per operation, as measured. */
  classA: number;
  classB: number;
  roundTrips: number;
  billedMs: number;
  s3: number;
  lambda: number;
  apiGateway: number;
  total: number;
}

export interface CostResult {
  rows: CostRow[];
}

/** The operations priced, with the measurement of item 1 each one stands on. */
const PRICED: { operation: string; row: (result: RequestsResult) => RequestCountRow | undefined }[] = [
  { operation: 'create session, no name', row: (result) => result.rows.find((row) => row.id === 'create') },
  { operation: 'create session with a name', row: (result) => result.rows.find((row) => row.id === 'create-named') },
  { operation: 'get session', row: (result) => result.rows.find((row) => row.id === 'get') },
  {
    operation: 'add job, warm instance (a runner appending; per job)',
    row: (result) => result.rows.find((row) => row.id === 'append-100'),
  },
  { operation: 'add job, cold instance', row: (result) => result.rows.find((row) => row.id === 'add-job') },
  { operation: 'add job already present', row: (result) => result.rows.find((row) => row.id === 'add-job-present') },
  { operation: 'status change', row: (result) => result.rows.find((row) => row.id === 'set-status') },
  {
    operation: 'list, first page of 50',
    row: (result) => result.rows.filter((row) => row.id.startsWith('list-')).at(-1),
  },
];

const MILLION = 1_000_000;

/** Prices every operation of item 1 per million. */
export function computeCost(requests: RequestsResult): CostResult {
  const rows = PRICED.flatMap(({ operation, row: pick }): CostRow[] => {
    const row = pick(requests);
    if (row === undefined) return [];
    const per = (count: number) => count / row.operations;
    const classA = per(row.requests.put + row.requests.list);
    const classB = per(row.requests.get);
    const roundTrips = row.roundTripsPerOperation;
    const billedMs = Math.ceil(DURATION_MODEL.handlerMs + roundTrips * DURATION_MODEL.s3RoundTripMs);
    const s3 = MILLION * ((classA * PRICES.s3ClassAPer1000) / 1000 + (classB * PRICES.s3ClassBPer1000) / 1000);
    const lambda =
      PRICES.lambdaPerMillionRequests + MILLION * (DURATION_MODEL.memoryMb / 1024) * (billedMs / 1000) * PRICES.lambdaArmPerGbSecond;
    const apiGateway = PRICES.httpApiPerMillionRequests;
    const label = row.id.startsWith('list-') ? `${operation} (${Number(row.id.slice(5)).toLocaleString('en-US')} stored)` : operation;
    return [{ operation: label, classA, classB, roundTrips, billedMs, s3, lambda, apiGateway, total: s3 + lambda + apiGateway }];
  });
  return { rows };
}

/** Section 6 of bench/RESULTS.md. */
export function costSection(result: CostResult): Section {
  return {
    title: '6. Cost per million operations on AWS (list prices, us-east-1)',
    intro: [
      'Computed, not measured on AWS: the S3 requests per operation are those counted in item 1 (PUT and LIST are the $0.005 tier, ' +
        'GET the $0.0004 tier); every operation is one API Gateway HTTP API request and one Lambda invocation (arm64, ' +
        `${DURATION_MODEL.memoryMb} MB, the stack's default). The Lambda duration is a model: ${DURATION_MODEL.handlerMs} ms of work plus ` +
        `${DURATION_MODEL.s3RoundTripMs} ms per sequential S3 round trip (the round trips of item 1), rounded up to the millisecond. ` +
        'Free tiers, data transfer out, CloudWatch logs and metrics, S3 storage and noncurrent versions are left out.',
      `Prices used, looked up on ${PRICES.checked} (published list rates; the sources):`,
      PRICES.sources.map((source) => `- ${source}`).join('\n'),
    ],
    tables: [
      {
        headers: ['operation (per million)', 'S3 PUT/LIST', 'S3 GET', 'round trips', 'billed ms', 'S3', 'Lambda', 'API Gateway', 'total'],
        rows: result.rows.map((row) => [
          row.operation,
          fixed(row.classA, 2),
          fixed(row.classB, 2),
          fixed(row.roundTrips, 2),
          String(row.billedMs),
          dollars(row.s3),
          dollars(row.lambda),
          dollars(row.apiGateway),
          dollars(row.total),
        ]),
      },
    ],
  };
}
