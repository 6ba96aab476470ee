/**
 * The deployed announcer: S3 tells EventBridge of every session write, a rule
 * runs the function on it, and the function announces what is new in that
 * session (`announcer.ts`), publishing to the service's own event bus.
 *
 * The notification only says which session to look at: what is announced is
 * read from the stored versions, so a lost, repeated or reordered notification
 * costs at most a late or repeated event, never a wrong or missing one.
 *
 * @module
 */

import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { SessionEvent } from '../domain/events.ts';
import { idFromKey } from '../domain/ids.ts';
import type { AnnounceReport, Announcer, Publisher } from '../workers/announcer.ts';

/** Publishes events to one EventBridge bus with PutEvents. */
export class EventBridgePublisher implements Publisher {
  readonly #client: EventBridgeClient;
  readonly #busName: string;

  constructor({ client, busName }: { client: EventBridgeClient; busName: string }) {
    this.#client = client;
    this.#busName = busName;
  }

  /** @throws Error when EventBridge refused any entry (the announcer then keeps its cursor and the whole batch is retried). */
  async publish(events: SessionEvent[]): Promise<void> {
    if (events.length === 0) return;
    const output = await this.#client.send(new PutEventsCommand({ Entries: events.map((event) => this.#entry(event)) }));
    const failed = output.FailedEntryCount ?? 0;
    if (failed > 0) {
      const codes = [...new Set((output.Entries ?? []).map((entry) => entry.ErrorCode).filter((code) => code !== undefined))];
      throw new Error(`EventBridge refused ${failed} of ${events.length} events (${codes.join(', ') || 'no error code'})`);
    }
  }

  #entry(event: SessionEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.#busName,
      Source: event.source,
      DetailType: event['detail-type'],
      Detail: JSON.stringify(event.detail),
      Time: new Date(event.time),
    };
  }
}

/** The fields of an S3 "Object Created" event, as EventBridge delivers it, that the handler reads. */
export interface S3ObjectCreatedEvent {
  source: string;
  'detail-type': string;
  detail: {
    bucket: { name: string };
    object: { key: string; 'version-id'?: string };
  };
}

/** What one invocation did: undefined when the event named no session. */
export interface AnnounceOutcome {
  sessionId: string;
  /** The version the notification was about. */
  versionId: string | undefined;
  runs: number;
  versions: number;
  published: number;
  gap: boolean;
}

export interface AnnounceHandlerOptions {
  announcer: Announcer;
  /** Only notifications from this bucket are acted on. Default: any (the rule already filters). */
  bucket?: string;
  /** Called with each run's reports, e.g. to log them. */
  onAnnounced?: (outcome: AnnounceOutcome, reports: AnnounceReport[]) => void;
}

/**
 * The handler of S3 "Object Created" events: for a key `sessions/<id>.json`
 * runs the announcer for that session until nothing new is left; any other
 * key (or bucket, or event) is ignored. A failure throws, so the invocation is
 * retried and, in the end, dead-lettered.
 */
export function createAnnounceHandler({
  announcer,
  bucket,
  onAnnounced = () => {},
}: AnnounceHandlerOptions): (event: S3ObjectCreatedEvent) => Promise<AnnounceOutcome | undefined> {
  return async (event) => {
    if (event.source !== 'aws.s3' || event['detail-type'] !== 'Object Created') return undefined;
    if (bucket !== undefined && event.detail?.bucket?.name !== bucket) return undefined;
    const key = event.detail?.object?.key;
    const sessionId = typeof key === 'string' ? idFromKey(key) : undefined;
    if (sessionId === undefined) return undefined;
    const reports = await announcer.announceAll(sessionId);
    const outcome: AnnounceOutcome = {
      sessionId,
      versionId: event.detail.object['version-id'],
      runs: reports.length,
      versions: reports.reduce((sum, report) => sum + report.versions, 0),
      published: reports.reduce((sum, report) => sum + report.published, 0),
      gap: reports.some((report) => report.gap),
    };
    onAnnounced(outcome, reports);
    return outcome;
  };
}
