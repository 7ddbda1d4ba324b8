/**
 * The ingest window behind /readyz and /v1/stats: a sample of cumulative
 * counts a second, from which the service reads its rates (the last 10 s)
 * and its losses (events lost over events caused in the last
 * `readiness.dropWindowSeconds`). Pure: the samples are its only input, so
 * tests drive it with counts and times of their choosing.
 */

/** The stages where an event the kernel produced is lost for good (a slow stream subscriber loses only its own copy). */
export const LOSS_STAGES = ["kernel_ring_full", "kernel_firehose_full", "decode_error", "handler_error", "store_queue_full", "store_write_error"] as const;

export interface IngestRates {
  windowSeconds: number;
  eventsPerSecond: number;
  storedPerSecond: number;
}

/** Events lost over events caused in the readiness window; null when too few events to judge. */
export interface LossWindow {
  windowSeconds: number;
  caused: number;
  lost: number;
  ratio: number | null;
}

export interface IngestSample {
  /** epoch ms */
  t: number;
  /** events through the pipeline */
  events: number;
  /** events written to the store */
  stored: number;
  /** decoded by the observer plus lost before decoding */
  caused: number;
  lost: number;
}

export interface ReadinessSettings {
  maxDropRatio: number;
  dropWindowSeconds: number;
  minEvents: number;
}

/** Caused and lost, cumulative, from the drops by stage and the records the observer decoded. */
export function lossCounts(dropsByStage: Record<string, number>, decodedByType: Record<string, number>): { caused: number; lost: number } {
  const lost = LOSS_STAGES.reduce((n, k) => n + (dropsByStage[k] ?? 0), 0);
  const decoded = Object.values(decodedByType).reduce((a, b) => a + b, 0);
  return { caused: decoded + (dropsByStage.kernel_ring_full ?? 0) + (dropsByStage.kernel_firehose_full ?? 0), lost };
}

const RATE_SAMPLES = 11;

export class IngestWindow {
  private samples: IngestSample[] = [];

  constructor(private readonly settings: ReadinessSettings) {}

  sample(s: IngestSample): void {
    this.samples.push(s);
    const keep = Math.max(RATE_SAMPLES, this.settings.dropWindowSeconds + 1);
    if (this.samples.length > keep) this.samples.shift();
  }

  /** What was lost in the readiness window (the last `dropWindowSeconds` samples). */
  losses(): LossWindow {
    const b = this.samples.at(-1);
    const a = this.samples.at(-1 - this.settings.dropWindowSeconds) ?? this.samples[0];
    if (!a || !b || a === b) return { windowSeconds: 0, caused: 0, lost: 0, ratio: null };
    const caused = b.caused - a.caused;
    const lost = b.lost - a.lost;
    return { windowSeconds: (b.t - a.t) / 1000, caused, lost, ratio: caused >= this.settings.minEvents ? Math.min(1, lost / caused) : null };
  }

  rates(): IngestRates {
    const a = this.samples.at(-RATE_SAMPLES) ?? this.samples[0];
    const b = this.samples.at(-1);
    if (!a || !b || b.t === a.t) return { windowSeconds: 0, eventsPerSecond: 0, storedPerSecond: 0 };
    const dt = (b.t - a.t) / 1000;
    return { windowSeconds: dt, eventsPerSecond: (b.events - a.events) / dt, storedPerSecond: (b.stored - a.stored) / dt };
  }

  /** Why the service is not ready because of losses, or null. */
  lossReason(): string | null {
    const loss = this.losses();
    const bound = this.settings.maxDropRatio;
    if (loss.ratio === null || bound >= 1 || loss.ratio <= bound) return null;
    return `lost ${pct(loss.ratio)} of ${loss.caused} events in the last ${Math.round(loss.windowSeconds)} s (bound ${pct(bound)}; see vigil_events_dropped_total by stage)`;
  }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}
