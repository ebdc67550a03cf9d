/**
 * Audit events onto an EventBridge bus with PutEvents. One call carries at most 10 entries and at most
 * 256 KB of entries (EventBridge API Reference, PutEvents: `Entries`, 1 to 10 items; User Guide, "Calculating
 * PutEvents event entry size": the total entry size must be under 256 KB, Time counting 14 bytes and Source,
 * DetailType, Detail and each Resource their UTF-8 bytes). An audit event is about 1 KB, so the size bound
 * only matters to keep the rule whole.
 *
 * PutEvents answers per entry: a call that succeeds may still fail some entries (`FailedEntryCount`, and an
 * `ErrorCode` on each failed entry, in request order). Calls go one after another, in order; once a call
 * fails (whole, or any entry of it) the calls after it are not made and their entries are reported failed
 * too (`NotSent`): the stream consumer retries from its first failure anyway, so sending them would only
 * publish them twice.
 */
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { AUDIT_SOURCE, type AuditEvent } from '../broker/audit';

/** PutEvents' largest `Entries`. */
export const MAX_ENTRIES_PER_CALL = 10;
/** PutEvents' bound on the total size of a call's entries, bytes. */
export const MAX_ENTRIES_BYTES = 256 * 1024;
/** What a failed entry whose call was never made reports as its error code. */
export const NOT_SENT = 'NotSent';

export interface FailedAuditEntry {
  /** The event's position in what `publish` was given. */
  index: number;
  /** EventBridge's `ErrorCode`, the error's name when the call failed whole, or `NotSent`. */
  errorCode: string;
  errorMessage?: string;
}

export interface AuditPublisher {
  /** Publishes `events` in order; answers the ones that were not published (none: all were). */
  publish(events: readonly AuditEvent[]): Promise<FailedAuditEntry[]>;
}

/** One event as a PutEvents entry. */
export function toEntry(event: AuditEvent, busName: string): PutEventsRequestEntry {
  return {
    Source: AUDIT_SOURCE,
    DetailType: event.detailType,
    Detail: JSON.stringify(event.detail),
    Time: new Date(event.time),
    EventBusName: busName,
  };
}

const utf8Bytes = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));

/** An entry's size as EventBridge counts it. */
export function entrySize(entry: PutEventsRequestEntry): number {
  return (
    (entry.Time ? 14 : 0) +
    utf8Bytes(entry.Source) +
    utf8Bytes(entry.DetailType) +
    utf8Bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((sum, resource) => sum + utf8Bytes(resource), 0)
  );
}

/** Consecutive runs of entries, each within PutEvents' count and size bounds (an entry too large alone goes alone). */
export function chunksOf(entries: readonly PutEventsRequestEntry[]): PutEventsRequestEntry[][] {
  const chunks: PutEventsRequestEntry[][] = [];
  let current: PutEventsRequestEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entrySize(entry);
    if (current.length > 0 && (current.length === MAX_ENTRIES_PER_CALL || bytes + size > MAX_ENTRIES_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export function createEventBridgeAuditPublisher(options: { client: EventBridgeClient; busName: string }): AuditPublisher {
  return {
    async publish(events) {
      const failed: FailedAuditEntry[] = [];
      let offset = 0;
      for (const chunk of chunksOf(events.map((event) => toEntry(event, options.busName)))) {
        if (failed.length > 0) {
          chunk.forEach((_, position) => failed.push({ index: offset + position, errorCode: NOT_SENT }));
        } else {
          try {
            const answer = await options.client.send(new PutEventsCommand({ Entries: chunk }));
            const results = answer.Entries ?? [];
            chunk.forEach((_, position) => {
              const result = results[position];
              // Published means an EventId: an entry the answer does not account for is not known to be published.
              if (result?.EventId === undefined || result.ErrorCode !== undefined) {
                failed.push({
                  index: offset + position,
                  errorCode: result?.ErrorCode ?? 'UnknownFailure',
                  ...(result?.ErrorMessage !== undefined && { errorMessage: result.ErrorMessage }),
                });
              }
            });
          } catch (error) {
            const errorCode = error instanceof Error ? error.name : 'Error';
            const errorMessage = error instanceof Error ? error.message : String(error);
            chunk.forEach((_, position) => failed.push({ index: offset + position, errorCode, errorMessage }));
          }
        }
        offset += chunk.length;
      }
      return failed;
    },
  };
}
