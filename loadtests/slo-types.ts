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
  /** k6 threshold syntax, by metric (optionally `{scenario:NAME}`). */
  thresholds: Record<string, string[]>;
  quick: { durationScale: number };
  summaryTrendStats: string[];
}
