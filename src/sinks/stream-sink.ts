/**
 * Live streams (SSE). Findings and audit entries go out as they come.
 * Events go out once the store commits them: a stream's event ids are the
 * store's, which is what a reconnecting client resumes from (Last-Event-ID),
 * so an event is streamed only once it can be found again.
 */
import type { VigilRecord } from "../events/records";
import type { RecordSink } from "../pipeline/event-pipeline";
import type { EventStore } from "../store/event-store";
import type { EventStreamHub } from "./event-stream-hub";

export class StreamSink implements RecordSink {
  readonly name = "streams";

  constructor(
    private readonly hub: EventStreamHub,
    store: EventStore,
  ) {
    store.onCommitted((events) => hub.publish(events));
  }

  writeRecord(r: VigilRecord): void {
    this.hub.publishRecord(r.kind, r.record, JSON.stringify(r.record));
  }
}
