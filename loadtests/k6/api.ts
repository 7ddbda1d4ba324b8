/**
 * k6 load test of the Vigil API, for users who have k6 (>= 0.57 runs .ts):
 *   VIGIL_URL=http://127.0.0.1:7411 VIGIL_TOKEN=… k6 run loadtests/k6/api.ts
 * Scenarios and thresholds come from loadtests/slo.json, the same file `bun run load` reads, so both
 * enforce one set of SLOs. Typechecked in CI with @types/k6 (loadtests/tsconfig.json).
 */
import http from "k6/http";
import { check } from "k6";
import type { Options, Scenario } from "k6/options";
// Types only: erased before k6 runs the script.
import type { ScenarioSpec, Slo } from "../slo-types";

const slo: Slo = JSON.parse(open("../slo.json"));
const policyBody = open("../policy-body.json");
const BASE = __ENV.VIGIL_URL || "http://127.0.0.1:7411";
const TOKEN = __ENV.VIGIL_TOKEN || "";

/** "30s" -> 30 (slo.json writes durations in seconds). */
function secondsOf(d: string): number {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(d);
  if (!m) throw new Error(`duration ${d}: expected seconds, e.g. 30s`);
  return Number(m[1]);
}

function toK6(name: string, s: ScenarioSpec): Scenario {
  if (s.executor === "constant-arrival-rate")
    return { executor: "constant-arrival-rate", rate: s.rate!, timeUnit: s.timeUnit, duration: s.duration, startTime: slo.warmup.duration, preAllocatedVUs: s.preAllocatedVUs!, maxVUs: s.maxVUs, exec: "request", env: { SCENARIO: name } };
  // Subscribers are held from the start, through the warm-up and the measured window.
  return { executor: "constant-vus", vus: s.vus!, duration: `${secondsOf(s.duration) + secondsOf(slo.warmup.duration)}s`, exec: "stream", env: { SCENARIO: name } };
}

/** A request scenario's warm-up: its request at the warm-up rate, before the measured window; no threshold names it. */
function warmupOf(name: string): Scenario {
  return { executor: "constant-arrival-rate", rate: slo.warmup.rate, timeUnit: "1s", duration: slo.warmup.duration, preAllocatedVUs: 2, maxVUs: 10, exec: "request", env: { SCENARIO: name } };
}

export const options: Options = {
  scenarios: Object.fromEntries(Object.entries(slo.scenarios).flatMap(([n, s]) => (s.request ? [[n, toK6(n, s)], [`${n}_warmup`, warmupOf(n)]] : [[n, toK6(n, s)]]))),
  // sse_events_received and storm_capture_ratio are measured by `bun run load` only (SSE client, kernel storms).
  thresholds: Object.fromEntries(Object.entries(slo.thresholds).filter(([m]) => m !== "sse_events_received" && m !== "storm_capture_ratio")),
  summaryTrendStats: slo.summaryTrendStats,
};

function headers(auth: boolean): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json" };
  if (auth) h.authorization = `Bearer ${TOKEN}`;
  return h;
}

export function request(): void {
  const spec = slo.scenarios[__ENV.SCENARIO!]!.request!;
  const res = spec.method === "POST" ? http.post(`${BASE}${spec.path}`, policyBody, { headers: headers(spec.auth) }) : http.get(`${BASE}${spec.path}`, { headers: headers(spec.auth) });
  check(res, { "status 2xx": (r) => r.status >= 200 && r.status < 300 });
}

export function stream(): void {
  const spec = slo.scenarios[__ENV.SCENARIO!]!.stream!;
  // k6 has no SSE client: hold the stream open for a bounded time, as a subscriber would.
  const res = http.get(`${BASE}${spec.path}`, { headers: headers(spec.auth), timeout: "5s" });
  check(res, { "stream answered": (r) => r.status === 200 || r.status === 0 });
}
