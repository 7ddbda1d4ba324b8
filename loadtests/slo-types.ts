/** The shape of loadtests/slo.json, shared (types only) by the k6 script and the Bun engine. */
export interface RequestSpec {
  method: "GET" | "POST";
  path: string;
  auth: boolean;
  /** A file under loadtests/ sent as the body. */
  bodyFile?: string;
}

export interface ScenarioSpec {
  executor: "constant-arrival-rate" | "constant-vus";
  rate?: number;
  timeUnit?: string;
  duration: string;
  preAllocatedVUs?: number;
  maxVUs?: number;
  vus?: number;
  request?: RequestSpec;
  stream?: { path: string; auth: boolean };
}

export interface Slo {
  scenarios: Record<string, ScenarioSpec>;
  /**
   * Before the measured window, each request scenario's request at `rate` per second for `duration`
   * (in k6, a `NAME_warmup` scenario; the measured ones start after it), so that a route's first
   * requests, which pay for parsing and compiling its code, are reported apart and judged by no
   * latency threshold. Stream scenarios start at once and last the warm-up longer. Not scaled by quick.
   */
  warmup: { duration: string; rate: number };
  /**
   * The host-noise control (`bun run load` only): a bare HTTP server in its own process, sent
   * requests at `rate` per second through the measured window by the same client. Its p(95) above
   * `maxP95Ms` means the host (or the client) stalled: a run whose only failed thresholds are
   * latencies is then measured again, `attempts` runs in all.
   */
  hostNoise: { rate: number; maxP95Ms: number; attempts: number };
  /** k6 threshold syntax, by metric (optionally `{scenario:NAME}`). */
  thresholds: Record<string, string[]>;
  quick: { durationScale: number };
  summaryTrendStats: string[];
}
