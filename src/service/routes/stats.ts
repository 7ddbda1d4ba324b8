import { Elysia } from "elysia";
import type { VigilService } from "../vigil-service";
import { documented, noQuery } from "./schemas";

export function statsRoutes(service: VigilService) {
  return new Elysia({ name: "vigil-stats" }).get(
    "/stats",
    () => {
      const o = service.observer.stats();
      const s = service.store.stats();
      const drops = service.dropsByStage(o.dropped);
      return {
        uptimeSeconds: (Date.now() - service.startedAt) / 1000,
        ingest: { ...service.ingestWindow.rates(), received: o.received },
        /** What readiness judges: events lost over events caused in the last readiness.dropWindowSeconds. */
        loss: service.ingestWindow.losses(),
        dropped: drops,
        droppedTotal: Object.values(drops).reduce((a, b) => a + b, 0),
        droppedKernelByType: o.dropped.kernelRingFull,
        droppedKernelByCpu: o.dropped.kernelRingFullPerCpu,
        ring: {
          fill: o.ringFill,
          firehoseFill: o.firehoseFill,
          firehoseSlots: o.firehoseSlots,
          drainWaitMs: o.drainWaitMs,
          attachedPrograms: o.attachedPrograms,
          exitHook: o.exitHook,
          /** The optional event kinds reported (config `capture`). */
          capture: o.capture,
          ...(o.exitHookReason ? { exitHookReason: o.exitHookReason } : {}),
        },
        store: s,
        processTree: service.tree.stats(),
        /** Aggregate mode: exited processes whose syscall counts were let go to keep userspace bounded. */
        syscallCounts: { exitedForgotten: o.syscallCountsForgotten },
        streams: { subscribers: service.hub.size, dropped: service.hub.dropped },
        /** Restarts of this daemon that left a time unobserved (each stored as a `gap` event). */
        gaps: service.gaps,
        /** Agent intent from TLS: what was read and parsed, what could not be, tool calls open, files hooked. */
        intent: service.runtime.intent
          ? { ...service.runtime.intent.counters, toolCallsOpen: service.runtime.intent.toolCalls.openCalls(), toolCalls: service.runtime.intent.toolCalls.counters, tlsFiles: service.runtime.tls.files(), tlsAttachFailures: service.runtime.tls.attachFailures }
          : null,
      };
    },
    { ...noQuery, detail: { summary: "Ingest rates, drops by stage, ring fill, store size", tags: ["stats"], responses: documented(200, "{ uptimeSeconds, ingest, loss, dropped, droppedTotal, ring, store, processTree, syscallCounts, streams, gaps, intent }") } },
  );
}
