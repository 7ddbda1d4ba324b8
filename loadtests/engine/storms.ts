/**
 * Kernel event storms against a running daemon, each marked so that its
 * events can be counted in the store independently of Vigil's own counters:
 * exec of a binary copy with a unique path, opens of a unique file, connects
 * to a unique closed loopback port. Reports events caused, events stored,
 * the capture ratio, the achieved rate and the drops per stage meanwhile.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { droppedByStage as drops, type Daemon } from "../../lab/daemon";

export interface StormResult {
  storm: string;
  caused: number;
  stored: number;
  captureRatio: number;
  ratePerSecond: number;
  droppedByStage: Record<string, number>;
}

/** Stored events of `type` that satisfy `mine`, paging through the store. */
async function countStored(d: Daemon, type: string, since: number, mine: (e: Record<string, unknown>) => boolean): Promise<number> {
  let n = 0;
  let cursor: number | undefined;
  for (;;) {
    const r = (await (await d.api(`/v1/events?type=${type}&since=${since}&limit=1000&order=asc${cursor ? `&cursor=${cursor}` : ""}`)).json()) as { events: Record<string, unknown>[]; nextCursor: number | null };
    n += r.events.filter(mine).length;
    if (r.nextCursor === null) return n;
    cursor = r.nextCursor;
  }
}

export async function runStorms(d: Daemon, quick: boolean): Promise<StormResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-storm-"));
  const n = quick ? 1000 : 5000;
  const bin = join(dir, "vigil-storm-true");
  copyFileSync("/bin/true", bin);
  Bun.spawnSync(["chmod", "755", bin]);
  const file = join(dir, "vigil-storm-file");
  writeFileSync(file, "x");
  const port = 20000 + Math.floor(Math.random() * 20000); // nothing listens: each connect is refused at once
  const storms: { name: string; type: string; script: string; mine: (e: Record<string, unknown>) => boolean }[] = [
    { name: "exec", type: "exec", script: `i=0; while [ $i -lt ${n} ]; do ${bin}; i=$((i+1)); done`, mine: (e) => e.filename === bin },
    { name: "open", type: "open", script: `i=0; while [ $i -lt ${n} ]; do : < ${file}; i=$((i+1)); done`, mine: (e) => e.path === file },
    {
      name: "connect",
      type: "connect",
      script: `python3 -c 'import socket\nfor i in range(${n}):\n    s = socket.socket()\n    try: s.connect(("127.0.0.1", ${port}))\n    except OSError: pass\n    s.close()'`,
      mine: (e) => e.port === port && e.address === "127.0.0.1",
    },
  ];
  const out: StormResult[] = [];
  try {
    for (const s of storms) {
      const before = await drops(d);
      const since = Date.now() - 1;
      const t0 = performance.now();
      const p = Bun.spawn(["/bin/sh", "-c", s.script], { stdout: "ignore", stderr: "ignore" });
      await p.exited;
      const secs = (performance.now() - t0) / 1000;
      await Bun.sleep(800); // drain and flush
      const stored = await countStored(d, s.type, since, s.mine);
      const after = await drops(d);
      const delta: Record<string, number> = {};
      for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) delta[k] = v - (before[k] ?? 0);
      out.push({ storm: s.name, caused: n, stored, captureRatio: stored / n, ratePerSecond: n / secs, droppedByStage: delta });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
