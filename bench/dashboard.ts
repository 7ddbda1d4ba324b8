/**
 * The dashboard under load (`bun run bench dashboard`): the live-events view
 * open in headless chromium while a process in the observed cgroup makes
 * about 5,000 events a second (opens), against the same page idle. What the
 * page pays: its main thread's busy share (CDP TaskDuration), its longest
 * task, its JS heap at the start and the end, and how many events reached it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import { OwnedCgroup } from "../src/cgroup/cgroup";
import { setLogLevel } from "../src/service/log";
import { startInProcessService } from "../test/helpers";
import { table, writeReport } from "./lib";

const TOKEN = "bench-dashboard-token-0123456789";
const RATE = 5000;

/** A python loop opening /dev/null RATE times a second for `seconds`, in the cgroup. */
function opener(cg: OwnedCgroup, seconds: number) {
  const script = `import os, time\nt0 = time.monotonic()\ni = 0\nwhile time.monotonic() - t0 < ${seconds}:\n    due = t0 + i / ${RATE}\n    now = time.monotonic()\n    if due > now: time.sleep(due - now)\n    os.close(os.open("/dev/null", os.O_RDONLY))\n    i += 1\nprint(i)`;
  return Bun.spawn(cg.shellArgv(`exec /usr/bin/python3 -c '${script}'`), { stdout: "pipe", stderr: "inherit" });
}

export async function benchDashboard(quick: boolean): Promise<Record<string, unknown>> {
  setLogLevel("error");
  const seconds = quick ? 10 : 30;
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-dash-"));
  const cg = OwnedCgroup.create(`bench-dash-${process.pid}`);
  const svc = await startInProcessService({ VIGIL_DATA_DIR: join(dir, "data"), VIGIL_CGROUPS: cg.relPath }, TOKEN);
  const browser = await puppeteer.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  try {
    const page = await browser.newPage();
    await page.goto(`${svc.base}/`);
    await page.type("input[name=token]", TOKEN);
    await page.click("button[type=submit]");
    await page.waitForSelector("header .scope");
    await page.goto(`${svc.base}/#/live`);
    await page.waitForSelector(".live");
    const cdp = await page.createCDPSession();
    await cdp.send("Performance.enable");
    const sample = async () => {
      const { metrics } = (await cdp.send("Performance.getMetrics")) as { metrics: { name: string; value: number }[] };
      const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
      const received = Number(await page.$eval(".hint", (e) => e.getAttribute("data-received")));
      return { taskSeconds: m.TaskDuration ?? 0, heapMiB: (m.JSHeapUsedSize ?? 0) / 2 ** 20, received };
    };
    // Long tasks (over 50 ms) as the page sees them.
    await page.evaluate(() => {
      const g = globalThis as unknown as { longest: number; PerformanceObserver: new (cb: (l: { getEntries(): { duration: number }[] }) => void) => { observe(o: unknown): void } };
      g.longest = 0;
      new g.PerformanceObserver((l) => {
        for (const e of l.getEntries()) g.longest = Math.max(g.longest, e.duration);
      }).observe({ type: "longtask", buffered: true });
    });
    const longest = () => page.evaluate(() => (globalThis as unknown as { longest: number }).longest);
    const phase = async (load: boolean) => {
      const start = await sample();
      const t0 = performance.now();
      const p = load ? opener(cg, seconds) : null;
      if (p) await p.exited;
      else await Bun.sleep(seconds * 1000);
      await Bun.sleep(1000); // the last events reach the page
      const end = await sample();
      const wall = (performance.now() - t0) / 1000;
      const made = p ? Number((await new Response(p.stdout).text()).trim()) : 0;
      return { wall, made, busyPct: ((end.taskSeconds - start.taskSeconds) / wall) * 100, heapStartMiB: start.heapMiB, heapEndMiB: end.heapMiB, receivedPerSecond: (end.received - start.received) / wall, longestTaskMs: await longest() };
    };
    const idle = await phase(false);
    const loaded = await phase(true);
    const rows = [
      ["idle (stream open)", "-", idle.receivedPerSecond.toFixed(0), `${idle.busyPct.toFixed(1)}%`, idle.longestTaskMs.toFixed(0), idle.heapStartMiB.toFixed(1), idle.heapEndMiB.toFixed(1)],
      [`${RATE} opens/s for ${seconds} s`, (loaded.made / seconds).toFixed(0), loaded.receivedPerSecond.toFixed(0), `${loaded.busyPct.toFixed(1)}%`, loaded.longestTaskMs.toFixed(0), loaded.heapStartMiB.toFixed(1), loaded.heapEndMiB.toFixed(1)],
    ];
    console.log(`\n## dashboard live view in headless chromium: ${RATE} events/s streamed in for ${seconds} s, against the page idle\n`);
    console.log(table(["load", "events made/s", "events reaching the page/s", "page main thread busy", "longest task ms", "JS heap MiB start", "end"], rows));
    const out = { rate: RATE, seconds, idle, loaded, streamDropped: svc.service.hub.dropped };
    console.log(`\nstream subscriber drops (counted by the service): ${svc.service.hub.dropped}`);
    writeReport("dashboard", out);
    return out;
  } finally {
    await browser.close();
    await svc.stop();
    await cg.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}
