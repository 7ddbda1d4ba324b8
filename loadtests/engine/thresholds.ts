/**
 * k6's threshold language over the metrics the engine records:
 * `p(95)<150`, `avg<50`, `med<=20`, `max<1000`, `rate<0.01`, `count==0`, `count>0`,
 * on metrics named as in k6, optionally with a `{scenario:NAME}` tag filter.
 */

export interface TrendValues {
  values: number[];
}

export type MetricValue = { kind: "trend"; values: number[] } | { kind: "rate"; passes: number; total: number } | { kind: "counter"; count: number };

export interface ThresholdResult {
  metric: string;
  expression: string;
  actual: number | null;
  ok: boolean;
}

const EXPR = /^\s*(avg|min|med|max|p\((\d+(?:\.\d+)?)\)|rate|count)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function aggregate(m: MetricValue, stat: string): number | null {
  if (m.kind === "rate") return stat === "rate" ? (m.total ? m.passes / m.total : 0) : null;
  if (m.kind === "counter") return stat === "count" ? m.count : null;
  const s = [...m.values].sort((a, b) => a - b);
  if (stat === "count") return s.length;
  if (s.length === 0) return null;
  if (stat === "avg") return s.reduce((a, b) => a + b, 0) / s.length;
  if (stat === "min") return s[0]!;
  if (stat === "max") return s.at(-1)!;
  if (stat === "med") return percentile(s, 50);
  const p = /^p\((.+)\)$/.exec(stat);
  return p ? percentile(s, Number(p[1])) : null;
}

export function evaluate(metric: string, expression: string, m: MetricValue | undefined): ThresholdResult {
  const e = EXPR.exec(expression);
  if (!e) throw new Error(`threshold ${metric}: cannot parse ${JSON.stringify(expression)} (k6 syntax: p(95)<200, rate<0.01, count==0)`);
  const stat = e[1]!;
  const op = e[3]!;
  const limit = Number(e[4]);
  // No samples at all is a failure, not a pass: a threshold must not hold by absence.
  const actual = m ? aggregate(m, stat) : null;
  if (actual === null || Number.isNaN(actual)) return { metric, expression, actual: null, ok: false };
  const ok = op === "<" ? actual < limit : op === "<=" ? actual <= limit : op === ">" ? actual > limit : op === ">=" ? actual >= limit : op === "==" ? actual === limit : actual !== limit;
  return { metric, expression, actual, ok };
}

/** "http_req_duration{scenario:events_query}" -> { name, scenario } */
export function parseMetricName(key: string): { name: string; scenario?: string } {
  const m = /^([a-z_]+)(?:\{scenario:([A-Za-z0-9_-]+)\})?$/.exec(key);
  if (!m) throw new Error(`threshold metric ${JSON.stringify(key)}: expected name or name{scenario:NAME}`);
  return { name: m[1]!, scenario: m[2] };
}
