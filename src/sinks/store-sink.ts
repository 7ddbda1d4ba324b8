/**
 * Hands every event to the store's write queue (which never blocks: a full
 * queue drops and counts), and every finding and audit entry to its records.
 */
import type { VigilRecord } from "../events/records";
import type { VigilEvent } from "../events/types";
import type { EventSink, RecordSink } from "../pipeline/event-pipeline";
import type { EventStore } from "../store/event-store";

export class StoreSink implements EventSink, RecordSink {
  readonly name = "store";

  constructor(private readonly store: EventStore) {}

  write(event: VigilEvent): void {
    this.store.add(event);
  }

  writeRecord(r: VigilRecord): void {
    this.store.addRecord(r.kind, r.record, r.kind === "finding" ? r.record.rule : r.record.action);
  }
}
