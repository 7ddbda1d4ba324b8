/**
 * Vigil's dashboard (served at / by the service) and, with the data inside
 * the page, the one-file report (`vigil run --report`, `vigil report`).
 * Views: agents (live), one agent's session (timeline, tree, files, and
 * the interventions), live events, policies, health. Routes are in the
 * hash (#/agent/NAME, #/tool-call/ID, #/process/PID): deep links that never
 * carry the token.
 */
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Api, ApiError, forgetToken, savedToken, type Scope } from "./api";
import type { SessionData, VAudit, VEvent, VFinding, VProcess } from "./session";
import { describe, ProcessTree, SessionView } from "./views";

declare global {
  interface Window {
    /** Set by a report file: the session to show, no service needed. */
    VIGIL_REPORT?: SessionData & { summary?: unknown };
  }
}

const POLL_MS = 2000;

function useHash(): string {
  const [hash, setHash] = useState(location.hash || "#/agents");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/agents");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

/** Runs `load` now and every POLL_MS while mounted; returns its latest result or error. */
function usePoll<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: string | null } {
  const [state, setState] = useState<{ data: T | null; error: string | null }>({ data: null, error: null });
  useEffect(() => {
    let alive = true;
    const tick = () =>
      load().then(
        (data) => alive && setState({ data, error: null }),
        (e: Error) => alive && setState((s) => ({ data: s.data, error: e.message })),
      );
    void tick();
    const timer = setInterval(tick, POLL_MS);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, deps);
  return state;
}

function SignIn({ onSignedIn }: { onSignedIn: (api: Api, scope: Scope) => void }) {
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const token = (new FormData(e.target as HTMLFormElement).get("token") as string).trim();
    try {
      const { api, scope } = await Api.signIn(token);
      onSignedIn(api, scope);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? "That token is not valid." : (err as Error).message);
    }
  };
  return (
    <form class="signin" onSubmit={submit}>
      <h1>Vigil</h1>
      <label>
        API token (admin, or read-only) <input name="token" type="password" autocomplete="off" required />
      </label>
      <button type="submit">Sign in</button>
      {error ? <p class="error">{error}</p> : null}
      <p class="hint">The token stays in this tab (sessionStorage) and goes only in request headers.</p>
    </form>
  );
}

interface AgentRow {
  name: string;
  liveProcesses: number;
  frozen: boolean | null;
  cgroupOwned?: boolean;
}

function Agents({ api }: { api: Api }) {
  /** Each agent's stored-event count at the previous poll, for its rate. */
  const previous = useRef(new Map<string, { at: number; events: number }>());
  const { data, error } = usePoll(async () => {
    const [{ agents }, stats] = await Promise.all([api.get<{ agents: AgentRow[] }>("/v1/agents"), api.get<{ ingest: { eventsPerSecond: number }; droppedTotal: number; dropped: Record<string, number> }>("/v1/stats")]);
    const rows = await Promise.all(
      agents.map(async (a) => {
        const [detail, findings] = await Promise.all([
          api.get<{ activity: { liveProcesses: number; storedEvents: Record<string, number> }; tls: { hooked: string[]; unsupported: { file: string; why: string }[] }; tokensSpent: number; state: string }>(`/v1/agents/${encodeURIComponent(a.name)}`),
          api.get<{ findings: VFinding[] }>(`/v1/findings?agent=${encodeURIComponent(a.name)}&limit=500`),
        ]);
        const bySeverity: Record<string, number> = {};
        for (const f of findings.findings) bySeverity[f.severity] = (bySeverity[f.severity] ?? 0) + 1;
        const events = Object.values(detail.activity.storedEvents).reduce((x, y) => x + y, 0);
        const before = previous.current.get(a.name);
        const now = Date.now();
        previous.current.set(a.name, { at: now, events });
        const rate = before && now > before.at ? ((events - before.events) * 1000) / (now - before.at) : null;
        return { ...a, detail, bySeverity, events, rate };
      }),
    );
    return { rows, eventsPerSecond: stats.ingest.eventsPerSecond, droppedTotal: stats.droppedTotal, dropped: stats.dropped };
  }, []);
  if (!data) return <p>{error ?? "Loading…"}</p>;
  return (
    <div>
      <h2>Agents</h2>
      <p class="summary">
        {data.eventsPerSecond.toFixed(0)} events/s ingested ·{" "}
        {data.droppedTotal === 0 ? (
          "nothing dropped"
        ) : (
          <a class="error" href="#/health">
            {data.droppedTotal} events dropped ({Object.entries(data.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ")}): every agent may miss some
          </a>
        )}
      </p>
      <table class="agents">
        <thead>
          <tr>
            <th>agent</th>
            <th>state</th>
            <th>processes</th>
            <th>events</th>
            <th>events/s</th>
            <th>findings</th>
            <th>LLM calls</th>
            <th>tokens</th>
            <th>TLS</th>
          </tr>
        </thead>
        <tbody>
          {data.rows.map((r) => (
            <tr key={r.name} data-agent={r.name}>
              <td>
                <a href={`#/agent/${encodeURIComponent(r.name)}`}>{r.name}</a>
              </td>
              <td class={`state-${r.detail.state}`}>{r.detail.state}</td>
              <td>{r.detail.activity.liveProcesses}</td>
              <td>{r.events}</td>
              <td>{r.rate === null ? "…" : r.rate.toFixed(1)}</td>
              <td>
                {Object.entries(r.bySeverity)
                  .map(([s, n]) => `${s} ${n}`)
                  .join(", ") || "none"}
              </td>
              <td>{r.detail.activity.storedEvents.llm_call ?? 0}</td>
              <td>{r.detail.tokensSpent}</td>
              <td>{r.detail.tls.unsupported.length ? `unsupported (${r.detail.tls.unsupported.map((u) => u.why).join("; ")})` : r.detail.tls.hooked.length ? "read" : "none seen"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data.rows.length === 0 ? <p class="empty">No agents yet: adopt one (POST /v1/agents) or run one with vigil run.</p> : null}
    </div>
  );
}

/**
 * What the live dashboard loads for one agent: the same shape a report carries. The events each tool call
 * caused come by its id (indexed in the store), however long ago; an ended call's are fetched once and
 * kept in `caused`. Besides those, the latest process events.
 */
async function loadSession(api: Api, agent: string, caused: Map<string, VEvent[]>): Promise<SessionData> {
  const q = encodeURIComponent(agent);
  const [intent, recent, findings, audits, processes] = await Promise.all([
    api.get<{ events: VEvent[] }>(`/v1/events?agent=${q}&type=llm_call,tool_call&limit=1000`),
    api.get<{ events: VEvent[] }>(`/v1/events?agent=${q}&type=exec,exec_failed,open,connect,fork,exit,enforce&limit=1000`),
    api.get<{ findings: VFinding[] }>(`/v1/findings?agent=${q}&limit=500`),
    api.get<{ audit: VAudit[] }>(`/v1/audit?agent=${q}&limit=500`).catch(() => ({ audit: [] as VAudit[] })),
    api.get<{ processes: VProcess[] }>(`/v1/processes?agent=${q}&state=all&limit=1000`),
  ]);
  const ended = new Set(intent.events.filter((e) => e.type === "tool_call" && e.phase === "ended").map((e) => e.toolCallId!));
  const ids = [...new Set(intent.events.filter((e) => e.type === "tool_call").map((e) => e.toolCallId!))];
  await Promise.all(
    ids
      .filter((id) => !(ended.has(id) && caused.has(id)))
      .map(async (id) => {
        const r = await api.get<{ events: VEvent[] }>(`/v1/events?toolCall=${encodeURIComponent(id)}&type=exec,exec_failed,open,connect,fork,exit,enforce&order=asc&limit=1000`);
        caused.set(id, r.events);
      }),
  );
  const seen = new Set<number>();
  const events: VEvent[] = [];
  for (const e of [...intent.events, ...ids.flatMap((id) => caused.get(id) ?? []), ...recent.events]) {
    if (e.id !== undefined && seen.has(e.id)) continue;
    if (e.id !== undefined) seen.add(e.id);
    events.push(e);
  }
  const cut = recent.events.length >= 1000 ? ["of the events no tool call caused, only the latest 1000"] : [];
  return { agent, takenAt: Date.now(), events, findings: findings.findings, audits: audits.audit, processes: processes.processes, cut };
}

function AgentPage({ api, scope, agent, focus }: { api: Api; scope: Scope; agent: string; focus?: string }) {
  const [last, setLast] = useState<VAudit | string | null>(null);
  const caused = useRef(new Map<string, VEvent[]>());
  const { data, error } = usePoll(() => loadSession(api, agent, caused.current), [agent]);
  const act = async (what: "freeze" | "thaw" | "kill" | "baseline") => {
    if (!confirm(`${what} agent ${agent}?`)) return;
    try {
      const r = await api.post<{ audit?: VAudit }>(`/v1/agents/${encodeURIComponent(agent)}/${what}`, what === "baseline" ? {} : { reason: "from the dashboard" });
      setLast(r.audit ?? `${what}: done`);
    } catch (e) {
      setLast(`${what} failed: ${(e as Error).message}`);
    }
  };
  const actions =
    scope === "admin" ? (
      <div class="actions">
        {(["freeze", "thaw", "kill", "baseline"] as const).map((a) => (
          <button key={a} data-action={a} onClick={() => void act(a)}>
            {a === "baseline" ? "take baseline" : a}
          </button>
        ))}
        {last ? <p class="audit-entry">{typeof last === "string" ? last : `${last.action} by ${last.actor}: ${last.ok ? "ok" : "failed"} — ${last.detail}`}</p> : null}
      </div>
    ) : null;
  if (!data) return <p>{error ?? "Loading…"}</p>;
  return <SessionView session={data} actions={actions} focus={focus} />;
}

function ToolCallPage({ api, id }: { api: Api; id: string }) {
  const { data, error } = usePoll(() => api.get<{ toolCall: VEvent; events: VEvent[] }>(`/v1/tool-calls/${encodeURIComponent(id)}`), [id]);
  if (!data) return <p>{error ?? "Loading…"}</p>;
  return (
    <div>
      <h2>
        Tool call <code>{id}</code> {data.toolCall.name}
      </h2>
      <p>
        <a href={`#/agent/${encodeURIComponent(data.toolCall.agent ?? "")}/${encodeURIComponent(id)}`}>in its session</a>
      </p>
      <ul class="caused">
        {data.events.map((e) => (
          <li key={e.id} data-pid={e.pid}>
            {e.pid} {describe(e)}
          </li>
        ))}
      </ul>
    </div>
  );
}

function ProcessPage({ api, pid }: { api: Api; pid: number }) {
  const { data, error } = usePoll(() => api.get<{ process: VProcess & { agent?: string }; ancestry: VProcess[]; children: VProcess[] }>(`/v1/processes/${pid}`), [pid]);
  if (!data) return <p>{error ?? "Loading…"}</p>;
  return (
    <div>
      <h2>Process {pid}</h2>
      <ProcessTree processes={[...data.ancestry, data.process, ...data.children]} focus={pid} />
    </div>
  );
}

const LIVE_KEEP = 2000;
const LIVE_SHOWN = 300;
const RENDER_MS = 100;

/** The SSE stream: filters, pause/resume, gap markers; batched rendering, bounded memory. */
function Live({ api }: { api: Api }) {
  const [filters, setFilters] = useState({ type: "", agent: "", text: "" });
  const [paused, setPaused] = useState(false);
  const [, redraw] = useState(0);
  const rows = useRef<{ key: number; line: string; kind: string }[]>([]);
  const held = useRef<typeof rows.current>([]);
  const received = useRef(0);
  const pausedRef = useRef(false);
  pausedRef.current = paused;
  useEffect(() => {
    const abort = new AbortController();
    let seq = 0;
    // Rows arrive by the thousand a second: the list is redrawn at most every RENDER_MS (a timer, not
    // requestAnimationFrame, which a hidden tab never runs).
    let timer: ReturnType<typeof setTimeout> | null = null;
    const params = new URLSearchParams();
    if (filters.type) params.set("type", filters.type);
    if (filters.agent) params.set("agent", filters.agent);
    rows.current = [];
    const push = (line: string, kind: string) => {
      received.current++;
      const target = pausedRef.current ? held.current : rows.current;
      target.push({ key: seq++, line, kind });
      if (target.length > LIVE_KEEP) target.splice(0, target.length - LIVE_KEEP);
      if (!timer) timer = setTimeout(() => ((timer = null), redraw((n) => n + 1)), RENDER_MS);
    };
    void api
      .stream(
        `/v1/events/stream?${params}`,
        (type, data) => {
          if (type === "gap") return push(`— gap: ${data} —`, "gap");
          const e = JSON.parse(data) as VEvent & { rule?: string };
          push(`${new Date(e.ts).toISOString().slice(11, 23)} ${e.agent ?? "-"} ${e.pid ?? ""} ${type === "finding" ? `finding ${e.rule}` : describe(e)}`, type);
        },
        abort.signal,
      )
      .catch((e: Error) => e.name !== "AbortError" && push(`— stream ended: ${e.message} —`, "gap"));
    return () => {
      abort.abort();
      if (timer) clearTimeout(timer);
    };
  }, [filters.type, filters.agent]);
  const resume = () => {
    rows.current.push(...held.current);
    held.current = [];
    if (rows.current.length > LIVE_KEEP) rows.current.splice(0, rows.current.length - LIVE_KEEP);
    setPaused(false);
  };
  const shown = rows.current.filter((r) => !filters.text || r.line.includes(filters.text)).slice(-LIVE_SHOWN);
  return (
    <div>
      <h2>Live events</h2>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <input placeholder="types (exec,open,…)" value={filters.type} onChange={(e) => setFilters({ ...filters, type: (e.target as HTMLInputElement).value })} />
        <input placeholder="agent" value={filters.agent} onChange={(e) => setFilters({ ...filters, agent: (e.target as HTMLInputElement).value })} />
        <input placeholder="text" value={filters.text} onInput={(e) => setFilters({ ...filters, text: (e.target as HTMLInputElement).value })} />
        {paused ? <button onClick={resume}>resume ({held.current.length} held)</button> : <button onClick={() => setPaused(true)}>pause</button>}
      </form>
      <ol class="live">
        {shown.map((r) => (
          <li key={r.key} class={`live-${r.kind}`}>
            {r.line}
          </li>
        ))}
      </ol>
      <p class="hint" data-received={received.current}>
        Showing the latest {shown.length} of {rows.current.length} kept (at most {LIVE_KEEP}); {received.current} received.
      </p>
    </div>
  );
}

function Policies({ api, scope }: { api: Api; scope: Scope }) {
  const { data, error } = usePoll(
    () =>
      api.get<{
        policies: { name: string; file: string; rules: number }[];
        rules: { policy: string; name: string; event: string; action: string; enforcement: string }[];
        directory: { dir: string; loadedAt: number | null; reloads: number; rejected: number; lastRejection: { problems?: { file: string; path: string; message: string }[] } | null } | null;
      }>("/v1/policies"),
    [],
  );
  const [yaml, setYaml] = useState("apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: draft }\nspec:\n  rules:\n    - name: example\n      match: { event: exec, binary: [\"/usr/bin/curl\"] }\n      action: alert\n");
  const [result, setResult] = useState<string>("");
  const check = async (what: "validate" | "dry-run") => {
    try {
      const r = await api.post(what === "validate" ? "/v1/policies/validate" : "/v1/policies/dry-run", what === "validate" ? { yaml } : { yaml, store: { limit: 100000 } });
      setResult(JSON.stringify(r, null, 2));
    } catch (e) {
      setResult((e as Error).message);
    }
  };
  return (
    <div>
      <h2>Policies</h2>
      {data?.directory ? (
        <p class="summary" data-policy-directory>
          {data.directory.dir}: loaded {data.directory.loadedAt ? new Date(data.directory.loadedAt).toISOString() : "never"} · {data.directory.reloads} reloads · {data.directory.rejected} rejected
          {data.directory.lastRejection?.problems?.length ? <span class="error"> · last rejection: {data.directory.lastRejection.problems.map((p) => `${p.file} ${p.path}: ${p.message}`).join("; ")}</span> : null}
        </p>
      ) : null}
      {data ? (
        <table>
          <thead>
            <tr>
              <th>policy</th>
              <th>rule</th>
              <th>event</th>
              <th>action</th>
              <th>enforced</th>
            </tr>
          </thead>
          <tbody>
            {data.rules.map((r) => (
              <tr key={`${r.policy}/${r.name}`}>
                <td>{r.policy}</td>
                <td>{r.name}</td>
                <td>{r.event}</td>
                <td>{r.action}</td>
                <td>{r.enforcement}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{error ?? "Loading…"}</p>
      )}
      <h3>Try a policy (nothing is applied)</h3>
      <textarea rows={12} cols={90} value={yaml} onInput={(e) => setYaml((e.target as HTMLTextAreaElement).value)} />
      <div>
        <button onClick={() => void check("validate")}>validate</button>
        {scope === "admin" ? <button onClick={() => void check("dry-run")}>dry-run on stored events</button> : null}
      </div>
      <pre class="result">{result}</pre>
    </div>
  );
}

function Health({ api }: { api: Api }) {
  const { data, error } = usePoll(async () => {
    const [stats, ready] = await Promise.all([api.get<Record<string, any>>("/v1/stats"), fetch("/readyz").then((r) => r.json() as Promise<{ status: string; reasons: string[] }>)]);
    return { stats, ready };
  }, []);
  if (!data) return <p>{error ?? "Loading…"}</p>;
  const s = data.stats;
  return (
    <div>
      <h2>Health</h2>
      <p class={data.ready.status === "ready" ? "ok" : "error"}>
        {data.ready.status}
        {data.ready.reasons.length ? `: ${data.ready.reasons.join("; ")}` : ""}
      </p>
      <p>
        ingest {s.ingest.eventsPerSecond.toFixed(0)} events/s, stored {s.ingest.storedPerSecond.toFixed(0)}/s · ring {(s.ring.fill * 100).toFixed(1)}% full · store {(s.store.sizeBytes / 1e6).toFixed(1)} MB
      </p>
      <h3>Dropped, by stage ({s.droppedTotal})</h3>
      <table>
        <tbody>
          {Object.entries(s.dropped as Record<string, number>).map(([k, v]) => (
            <tr key={k} class={v ? "error" : ""}>
              <td>{k}</td>
              <td>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Dashboard() {
  const [session, setSession] = useState<{ api: Api; scope: Scope } | null>(null);
  const hash = useHash();
  useEffect(() => {
    const token = savedToken();
    if (token) Api.signIn(token).then(setSession, () => forgetToken());
  }, []);
  if (!session) return <SignIn onSignedIn={(api, scope) => setSession({ api, scope })} />;
  const { api, scope } = session;
  const [, route = "agents", a, b] = hash.split("/").map(decodeURIComponent);
  return (
    <div>
      <header>
        <b>Vigil</b>
        <a href="#/agents">Agents</a>
        <a href="#/live">Live events</a>
        <a href="#/policies">Policies</a>
        <a href="#/health">Health</a>
        <span class="scope" data-scope={scope}>
          {scope === "admin" ? "admin" : "read-only"}
        </span>
        <button
          onClick={() => {
            forgetToken();
            setSession(null);
          }}
        >
          sign out
        </button>
      </header>
      <main>
        {route === "agent" && a ? (
          <AgentPage api={api} scope={scope} agent={a} focus={b} />
        ) : route === "tool-call" && a ? (
          <ToolCallPage api={api} id={a} />
        ) : route === "process" && a ? (
          <ProcessPage api={api} pid={Number(a)} />
        ) : route === "live" ? (
          <Live api={api} />
        ) : route === "policies" ? (
          <Policies api={api} scope={scope} />
        ) : route === "health" ? (
          <Health api={api} />
        ) : (
          <Agents api={api} />
        )}
      </main>
    </div>
  );
}

const root = document.getElementById("app")!;
const report = window.VIGIL_REPORT;
render(report ? <SessionView session={report} /> : <Dashboard />, root);
