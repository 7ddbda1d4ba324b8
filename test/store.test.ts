/** The event store and the SSE hub on their own (real SQLite files, real streams). */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecEvent } from "../src/events/types";
import { EventStore } from "../src/store/event-store";
import { EventStreamHub } from "../src/sinks/event-stream-hub";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), "vigil-store-"));
  dirs.push(d);
  return d;
};

const ev = (i: number, ts: number): ExecEvent => ({
  type: "exec",
  ts,
  ktimeNs: i,
  pid: 1000 + (i % 7),
  tid: 1000,
  ppid: 1,
  uid: 0,
  gid: 0,
  comm: "x",
  cgroupId: 1,
  agentId: 0,
  agent: i % 2 ? "odd" : "even",
  filename: `/bin/tool-${i}`,
  argv: ["tool", "x".repeat(200)],
  argvTruncated: false,
  filenameTruncated: false,
  oldPid: 0,
  ino: 0,
  dev: 0,
});

describe("EventStore", () => {
  test("batched writes, filters, cursor pages", async () => {
    const s = new EventStore({ dir: newDir(), flushIntervalMs: 100_000 });
    for (let i = 0; i < 250; i++) s.add(ev(i, 1000 + i));
    expect(await s.flush()).toBe(250);
    const odd = s.query({ agent: "odd", limit: 1000, order: "desc" });
    expect(odd.events.length).toBe(125);
    const p1 = s.query({ limit: 100, order: "asc" });
    const p2 = s.query({ limit: 100, order: "asc", cursor: p1.nextCursor! });
    const p3 = s.query({ limit: 100, order: "asc", cursor: p2.nextCursor! });
    expect(p3.nextCursor).toBeNull();
    expect([...p1.events, ...p2.events, ...p3.events].map((e) => e.id)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(s.query({ since: 1100, until: 1110, limit: 100, order: "asc" }).events.length).toBe(10);
    expect(s.countByType("odd")).toEqual({ exec: 125 });
    await s.close();
  });

  test("reads off the thread are bounded: a window of ids per query, and a full reader queue refuses at once", async () => {
    const dir = newDir();
    const s = new EventStore({ dir, flushIntervalMs: 100_000, maxScan: 100 });
    for (let i = 0; i < 1000; i++) s.add(ev(i, 1000 + i));
    await s.flush();
    // Matches nothing: each page covers 100 ids and says where to go on; the walk ends.
    let page = await s.reader.events({ until: 0, limit: 10, order: "desc" });
    let pages = 1;
    expect(page.rows).toEqual([]);
    expect(page.scanned).toBe(100);
    while (page.nextCursor !== null && pages < 100) (page = await s.reader.events({ until: 0, limit: 10, order: "desc", cursor: page.nextCursor })), pages++;
    expect(pages).toBe(10);
    // A rare match is found whatever window it is in, in order.
    const ids: number[] = [];
    let cursor: number | undefined;
    for (let n = 0; n < 100; n++) {
      const p = await s.reader.events({ pid: 1003, limit: 1000, order: "asc", cursor });
      ids.push(...p.rows.map((r) => r.id));
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
    expect(ids).toEqual(s.query({ pid: 1003, limit: 1000, order: "asc" }).events.map((e) => e.id));
    await s.close();
    const { StoreReader, StoreBusy } = await import("../src/store/store-reader");
    const r = new StoreReader({ path: join(dir, "events.db"), readers: 1, maxPending: 2 });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => r.countByType()));
    expect(results.filter((x) => x.status === "fulfilled").length).toBe(2);
    for (const x of results.filter((x) => x.status === "rejected")) expect((x as PromiseRejectedResult).reason).toBeInstanceOf(StoreBusy);
    expect(r.refusedBusy).toBe(4);
    await r.close();
  });

  test("a full queue drops and counts, never blocks", async () => {
    const s = new EventStore({ dir: newDir(), queueLimit: 100, flushIntervalMs: 100_000 });
    let accepted = 0;
    for (let i = 0; i < 150; i++) if (s.add(ev(i, i))) accepted++;
    expect(accepted).toBe(100);
    expect(s.stats().droppedQueueFull).toBe(50);
    await s.close();
  });

  test("retention by age and by size, deletions counted", async () => {
    const s = new EventStore({ dir: newDir(), flushIntervalMs: 100_000, retentionIntervalMs: 100_000, maxAgeMs: 1000, maxBytes: 1 << 20 });
    const now = 10_000_000;
    for (let i = 0; i < 100; i++) s.add(ev(i, now - 5000)); // old
    for (let i = 0; i < 6000; i++) s.add(ev(i, now)); // ~2.5 MB of rows
    await s.flush();
    const r = await s.applyRetention(now);
    expect(r.byAge).toBe(100);
    expect(r.bySize).toBeGreaterThan(0);
    const st = s.stats();
    expect(st.deletedByAge).toBe(100);
    expect(st.deletedBySize).toBe(r.bySize);
    const left = s.query({ limit: 1000, order: "asc" });
    expect(left.events[0]!.id).toBeGreaterThan(100 + r.bySize - 1); // the oldest went first
    await s.close();
  });
});

describe("EventStreamHub", () => {
  test("a slow subscriber gets a gap message with the exact count missed, and the drop is counted", async () => {
    const hub = new EventStreamHub(5, 10, 60_000);
    const res = hub.subscribe(() => true);
    const committed = (e: ReturnType<typeof ev>, id: number) => ({ event: { ...e, id }, json: JSON.stringify({ ...e, id }) });
    const stored = Array.from({ length: 100 }, (_, i) => committed(ev(i, i), i + 1));
    hub.publish(stored); // nobody is reading: the stream's queue and the subscriber buffer fill up
    const reader = res.body!.getReader();
    let text = "";
    const dec = new TextDecoder();
    while (!text.includes("event: gap")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value);
    }
    hub.publish([committed(ev(200, 200), 201)]);
    for (let i = 0; i < 5 && !text.includes("id: 201\n"); i++) text += dec.decode((await reader.read()).value);
    const delivered = (text.match(/^id: /gm) ?? []).length;
    const missed = Number(/event: gap\ndata: \{"missed":(\d+)\}/.exec(text)![1]);
    expect(missed).toBeGreaterThan(0);
    expect(delivered + missed).toBe(101);
    expect(hub.dropped).toBe(missed);
    expect(text.indexOf("event: gap")).toBeLessThan(text.indexOf("id: 201\n")); // order kept
    hub.closeAll();
  });

  describe("resuming after Last-Event-ID", () => {
    const committed = (i: number) => ({ event: { ...ev(i, i), id: i }, json: JSON.stringify({ ...ev(i, i), id: i }) });
    /** A store of ids [oldest, newest] seen through the Resume interface, with a hook after each page. */
    const store = (oldest: number, newest: number, onPage?: (last: number) => void) => ({
      oldestId: async () => oldest,
      page: async (afterId: number, limit: number) => {
        const ids: number[] = [];
        for (let id = Math.max(afterId + 1, oldest); id <= newest && ids.length < limit; id++) ids.push(id);
        onPage?.(ids.at(-1) ?? afterId);
        return { events: ids.map((id) => ({ id, type: "exec", json: `{"id":${id}}` })), nextCursor: ids.length && ids.at(-1)! < newest ? ids.at(-1)! : null };
      },
    });
    async function readAll(res: Response, until: (text: string) => boolean): Promise<string> {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let text = "";
      for (let i = 0; i < 10_000 && !until(text); i++) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value);
      }
      return text;
    }
    const ids = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

    test("the stored events after the id, then the live ones held meanwhile, none twice, in order", async () => {
      const hub = new EventStreamHub(100, 10, 60_000);
      // Live events 48..52 are committed while the replay reads the store (which ends at 50).
      const res = hub.subscribe(() => true, undefined, { afterId: 10, limit: 10_000, ...store(1, 50, (last) => last >= 50 && hub.publish([48, 49, 50, 51, 52].map(committed))) });
      const text = await readAll(res, (t) => t.includes("id: 52\n"));
      expect(ids(text)).toEqual(Array.from({ length: 42 }, (_, i) => i + 11));
      expect(text).not.toContain("event: gap");
      hub.closeAll();
    });

    test("events retention deleted are named in a gap, then the replay starts at the oldest kept", async () => {
      const hub = new EventStreamHub(100, 10, 60_000);
      const text = await readAll(hub.subscribe(() => true, undefined, { afterId: 5, limit: 10_000, ...store(40, 45) }), (t) => t.includes("id: 45\n"));
      expect(text).toContain('event: gap\ndata: {"reason":"expired","message":"events after id 5 up to 39 were deleted by retention","fromId":6,"toId":39}');
      expect(ids(text)).toEqual([40, 41, 42, 43, 44, 45]);
      hub.closeAll();
    });

    test("a replay is bounded: beyond the limit a gap says where to read on; a slow reader never overflows", async () => {
      const hub = new EventStreamHub(8, 10, 60_000);
      const text = await readAll(hub.subscribe(() => true, undefined, { afterId: 0, limit: 20, ...store(1, 1000) }), (t) => t.includes("resume_limit"));
      expect(ids(text)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(text).toContain('"reason":"resume_limit"');
      expect(text).toContain('"afterId":20');
      expect(hub.dropped).toBe(0);
      hub.closeAll();
    });
  });
});

describe("one filter for stored and live events", () => {
  test("matchesFilter agrees with the store's SQL on every event", async () => {
    const { matchesFilter } = await import("../src/store/queries");
    const s = new EventStore({ dir: newDir(), flushIntervalMs: 100_000 });
    const events = Array.from({ length: 300 }, (_, i) => ({ ...ev(i, 1000 + i), type: i % 3 ? "exec" : "open" }) as ExecEvent);
    for (const e of events) s.add(e);
    await s.flush();
    const filters = [{}, { types: ["open"] }, { pid: 1003 }, { agent: "odd" }, { since: 1100, until: 1150 }, { types: ["exec"], agent: "even", since: 1200 }];
    for (const f of filters) {
      const stored = s.query({ ...f, limit: 1000, order: "asc" }).events.map((e) => (e as ExecEvent).ktimeNs);
      const live = events.filter((e) => matchesFilter(f, e)).map((e) => e.ktimeNs);
      expect({ f, n: stored.length, ids: stored }).toEqual({ f, n: live.length, ids: live });
    }
    await s.close();
  });
});
