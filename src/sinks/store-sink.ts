/** Hands every event to the store's write queue (which never blocks: a full queue drops and counts). */
import type { VigilEvent } from "../events/types";
import type { EventSink } from "../pipeline/event-pipeline";
import type { EventStore } from "../store/event-store";

export class StoreSink implements EventSink {
  readonly name = "store";

  constructor(
    private readonly store: EventStore,
    /** Called for each event before it is queued (the service counts them by type). */
    private readonly counted?: (event: VigilEvent) => void,
  ) {}

  write(event: VigilEvent): void {
    this.counted?.(event);
    this.store.add(event);
  }
}
