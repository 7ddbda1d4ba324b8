/** The views that render a session; shared by the live dashboard and the one-file report. */
import { useState } from "preact/hooks";
import { buildTimeline, collapse, describe, type SessionData, type TimelineItem, type ToolCallNode, type VEvent, type VProcess } from "./session";

const time = (ts: number) => new Date(ts).toISOString().slice(11, 23);

export function Timeline({ session, focus }: { session: SessionData; focus?: string }) {
  const items = buildTimeline(session);
  if (items.length === 0) return <p class="empty">Nothing observed yet.</p>;
  return (
    <ol class="timeline">
      {items.map((item, i) => (
        <TimelineRow key={i} item={item} focus={focus} />
      ))}
    </ol>
  );
}

function TimelineRow({ item, focus }: { item: TimelineItem; focus?: string }) {
  if (item.kind === "finding") {
    const f = item.finding;
    return (
      <li class={`finding sev-${f.severity}`} data-finding={f.rule}>
        <span class="t">{time(f.ts)}</span> <b>{f.severity}</b> {f.rule} ({f.action}, {f.enforcement}) pid {f.pid} {f.comm}: {f.outcome}
      </li>
    );
  }
  if (item.kind === "audit") {
    const a = item.audit;
    return (
      <li class={`audit ${a.ok ? "ok" : "failed"}`}>
        <span class="t">{time(a.ts)}</span> intervention <b>{a.action}</b> by {a.actor}: {a.detail}
      </li>
    );
  }
  if (item.kind === "activity") {
    const lines = collapse(item.events, 20);
    return (
      <li class="activity">
        <details>
          <summary>
            <span class="t">{time(item.ts)}</span> {item.events.length} events of no tool call
          </summary>
          <ul>
            {lines.map((l) => (
              <li key={l.line}>
                {l.line}
                {l.count > 1 ? ` ×${l.count}` : ""}
              </li>
            ))}
            {lines.length < item.events.length && collapse(item.events, Number.MAX_SAFE_INTEGER).length > 20 ? <li class="cut">… more, collapsed</li> : null}
          </ul>
        </details>
      </li>
    );
  }
  const c = item.call;
  return (
    <li class="llm" data-llm={c.llmCallId}>
      <div>
        <span class="t">{time(c.ts)}</span> <b>LLM</b> {c.model ?? "?"} @ {c.host} · {c.durationMs?.toFixed(0)} ms{c.usage ? ` · ${c.usage.inputTokens} in, ${c.usage.outputTokens} out` : ""}
      </div>
      {c.prompt ? <div class="prompt">› {c.prompt.slice(0, 300)}</div> : null}
      {c.completion ? <div class="completion">‹ {c.completion.slice(0, 300)}</div> : null}
      {item.toolCalls.length ? (
        <ul class="tools">
          {item.toolCalls.map((t) => (
            <ToolCall key={t.id} node={t} open={focus === t.id} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

function ToolCall({ node, open }: { node: ToolCallNode; open: boolean }) {
  const fx = node.ended?.effects;
  const lines = collapse(node.events, 200);
  return (
    <li class="tool" id={`tool-${node.id}`} data-tool-call={node.id}>
      <details open={open || node.events.length <= 12}>
        <summary>
          <b>{node.name}</b> <code>{node.id}</code> {node.arguments ? <code class="args">{node.arguments.slice(0, 200)}</code> : null}
          {node.ended ? ` · ${node.ended.durationMs?.toFixed(0)} ms` : " · running"}
          {fx ? ` · ${fx.processes} processes, ${fx.execs.length} execs, ${fx.filesWritten.length} written, ${fx.filesRead.length} read, ${fx.connections.length} connections${fx.findings ? `, ${fx.findings} findings` : ""}` : ""}
        </summary>
        <ul class="caused">
          {lines.map((l) => (
            <li key={l.line} data-pid={l.first.pid} class={`ev-${l.first.type}`}>
              <span class="pid">{l.first.pid}</span> {l.line}
              {l.count > 1 ? ` ×${l.count}` : ""}
            </li>
          ))}
          {collapse(node.events, Number.MAX_SAFE_INTEGER).length > lines.length ? <li class="cut">… {collapse(node.events, Number.MAX_SAFE_INTEGER).length - lines.length} more lines cut</li> : null}
        </ul>
      </details>
    </li>
  );
}

/** The process tree, exited processes greyed with their exit status. */
export function ProcessTree({ processes, focus }: { processes: VProcess[]; focus?: number }) {
  const byParent = new Map<number, VProcess[]>();
  const pids = new Set(processes.map((p) => p.pid));
  for (const p of processes) {
    const list = byParent.get(p.ppid) ?? [];
    list.push(p);
    byParent.set(p.ppid, list);
  }
  const roots = processes.filter((p) => !pids.has(p.ppid));
  const render = (p: VProcess, depth: number): preact.JSX.Element => (
    <li key={p.pid} class={p.exitTime !== null ? "exited" : "live"} id={`proc-${p.pid}`} data-pid={p.pid}>
      <span class={focus === p.pid ? "focus" : ""}>
        {p.pid} {p.comm} {p.argv ? <code>{p.argv.join(" ").slice(0, 120)}</code> : null}
        {p.exitTime !== null ? ` — exit ${p.signal ? `signal ${p.signal}` : (p.exitCode ?? "?")}` : ""}
      </span>
      {depth < 30 && byParent.get(p.pid)?.length ? <ul>{byParent.get(p.pid)!.slice(0, 200).map((c) => render(c, depth + 1))}</ul> : null}
    </li>
  );
  return <ul class="tree">{roots.slice(0, 200).map((r) => render(r, 0))}</ul>;
}

/** Files and destinations the session touched, most used first. */
export function Touched({ events }: { events: VEvent[] }) {
  const files = new Map<string, number>();
  const dests = new Map<string, number>();
  for (const e of events) {
    if (e.type === "open" && e.path) files.set(e.path, (files.get(e.path) ?? 0) + 1);
    if (e.type === "connect") dests.set(`${e.address}:${e.port}`, (dests.get(`${e.address}:${e.port}`) ?? 0) + 1);
  }
  return (
    <div class="touched">
      <TopList title="Files" counts={files} />
      <TopList title="Destinations" counts={dests} />
    </div>
  );
}

/** The 50 most used of a count, with how many there are. */
function TopList({ title, counts }: { title: string; counts: Map<string, number> }) {
  return (
    <section>
      <h3>
        {title} ({counts.size})
      </h3>
      <ul>
        {[...counts]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 50)
          .map(([k, n]) => (
            <li key={k}>
              {k} {n > 1 ? `×${n}` : ""}
            </li>
          ))}
      </ul>
    </section>
  );
}

/** A session: summary, timeline, tree, files; `actions` adds the buttons (live, admin only). */
export function SessionView({ session, actions, focus }: { session: SessionData; actions?: preact.ComponentChildren; focus?: string }) {
  const [tab, setTab] = useState<"timeline" | "tree" | "touched">("timeline");
  const llm = session.events.filter((e) => e.type === "llm_call");
  const tokens = llm.reduce((a, e) => a + (e.usage?.inputTokens ?? 0) + (e.usage?.outputTokens ?? 0), 0);
  return (
    <div class="session">
      <h2>
        Agent <span data-agent-title>{session.agent}</span>
      </h2>
      <p class="summary">
        {llm.length} LLM calls · {tokens} tokens · {session.findings.length} findings · {session.processes.length} processes · {session.events.length} events{session.cut.length ? ` · cut: ${session.cut.join("; ")}` : ""}
      </p>
      {actions}
      <nav class="tabs">
        {(["timeline", "tree", "touched"] as const).map((t) => (
          <button key={t} class={tab === t ? "on" : ""} onClick={() => setTab(t)}>
            {t === "timeline" ? "Timeline" : t === "tree" ? "Process tree" : "Files and destinations"}
          </button>
        ))}
      </nav>
      {tab === "timeline" ? <Timeline session={session} focus={focus} /> : tab === "tree" ? <ProcessTree processes={session.processes} /> : <Touched events={session.events} />}
    </div>
  );
}

export { describe };
