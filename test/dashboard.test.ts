/**
 * The dashboard in a real browser (Debian's chromium, driven headless by
 * puppeteer-core): the service runs, a real agent session runs (python over
 * TLS, scripted by the mock LLM), and the page must show the agent, the
 * marker exec under its tool call, the finding on the timeline, and freeze
 * the agent's cgroup from its button, which the read-only token never sees.
 * Screenshots of each view go to reports/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { cgroup2Mount } from "../src/cgroup/cgroup";
import { setLogLevel } from "../src/service/log";
import type { VigilService } from "../src/service/vigil-service";
import { makeTestCertificate, type TestCertificate } from "../lab/tls-cert";
import { startMockLlm, type MockLlm } from "../loadtests/agents/mock-llm";
import { readTokenFor, requireRoot, ROOT, startInProcessService, unique, until } from "./helpers";

requireRoot();
/** The page's document, as the functions run in the browser see it (this file is not typed for the DOM). */
declare const document: { querySelectorAll(selector: string): Iterable<{ textContent: string | null }>; body: { textContent: string | null } };
const CHROMIUM = "/usr/bin/chromium";
const SHOTS = join(ROOT, "reports/screenshots");
const TOKEN = "dash-token-0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "vigil-dash-"));
const marker = unique("marker");
let cert: TestCertificate;
let llm: MockLlm;
let service: VigilService;
let base: string;
let stop: () => Promise<void>;
let browser: Browser;
let agentProc: ReturnType<typeof Bun.spawn>;

beforeAll(async () => {
  setLogLevel("error");
  mkdirSync(SHOTS, { recursive: true });
  mkdirSync(join(dir, "policies"));
  writeFileSync(join(dir, "policies", "watch.yaml"), `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: watch }\nspec:\n  rules:\n    - name: marker-seen\n      match: { event: exec, argv: ["${marker}"] }\n      action: alert\n      severity: high\n`);
  cert = await makeTestCertificate();
  llm = startMockLlm(
    {
      name: "dash",
      description: "a session for the dashboard",
      rogue: false,
      steps: [{ toolCalls: [{ name: "run_shell", arguments: { command: `echo ${marker} > marker.txt` } }] }, { toolCalls: [{ name: "read_file", arguments: { path: "marker.txt" } }] }, { message: "done" }],
    },
    { tls: cert },
  );
  const s = await startInProcessService({ VIGIL_DATA_DIR: join(dir, "data"), VIGIL_POLICY_DIR: join(dir, "policies") }, TOKEN);
  ({ service, base, stop } = s);
  // The agent: a shell adopted into a cgroup of Vigil's own, then the session, then it waits (so it can be frozen).
  agentProc = Bun.spawn(["sh", "-c", `cd ${dir}; while [ ! -f go ]; do sleep 0.01; done; /usr/bin/python3 ${ROOT}/loadtests/agents/tls_agent.py --url ${llm.url} --cafile ${cert.certPath} --workdir ${dir}; while [ ! -f end ]; do sleep 0.05; done`], { stdout: "ignore", stderr: "ignore" });
  const r = await fetch(`${base}/v1/agents`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ name: "dash-coder", pid: agentProc.pid, contain: true }) });
  expect(r.status).toBe(201);
  writeFileSync(join(dir, "go"), "");
  await until(async () => (llm.requests() >= 3 ? true : undefined), 20_000);
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  writeFileSync(join(dir, "end"), "");
  agentProc?.kill("SIGKILL");
  for (const a of service.agents.list()) {
    const cg = a.cgroupPath ? join(cgroup2Mount()!, a.cgroupPath) : null;
    if (cg) writeFileSync(join(cg, "cgroup.freeze"), "0");
    await service.removeAgent(a.name);
  }
  await stop();
  llm.stop();
  rmSync(cert.dir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

async function signIn(token: string): Promise<Page> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on("dialog", (d) => void d.accept());
  await page.goto(`${base}/`);
  await page.type("input[name=token]", token);
  await page.click("button[type=submit]");
  await page.waitForSelector("header .scope");
  expect(page.url()).not.toContain(token);
  return page;
}

const texts = (page: Page, selector: string) => page.$$eval(selector, (els) => els.map((e) => e.textContent ?? ""));

describe("dashboard in a real browser", () => {
  test("the agent is listed live; its session shows the marker exec under its tool call and the finding on the timeline", async () => {
    const page = await signIn(TOKEN);
    await page.waitForSelector('tr[data-agent="dash-coder"]', { timeout: 10_000 });
    expect((await texts(page, 'tr[data-agent="dash-coder"] td'))[1]).toBe("running");
    await page.screenshot({ path: join(SHOTS, "agents.png"), fullPage: true });

    await page.goto(`${base}/#/agent/dash-coder`);
    await page.waitForFunction((m) => [...document.querySelectorAll('[data-tool-call="call_0_0"] .caused li')].some((li) => li.textContent?.includes(`echo ${m} > marker.txt`)), { timeout: 15_000 }, marker);
    await page.waitForSelector('li.finding[data-finding="watch/marker-seen"]', { timeout: 15_000 });
    const toolSummary = await texts(page, '[data-tool-call="call_0_0"] summary');
    expect(toolSummary[0]).toContain("run_shell");
    // The second tool call's read of the file is its own, not the first's.
    const second = await texts(page, '[data-tool-call="call_1_0"] .caused li');
    expect(second.some((l) => l.includes("marker.txt"))).toBe(true);
    await page.screenshot({ path: join(SHOTS, "session.png"), fullPage: true });

    await page.click(".tabs button:nth-child(2)");
    await page.waitForSelector(".tree li");
    await page.screenshot({ path: join(SHOTS, "process-tree.png"), fullPage: true });
    await page.close();
  }, 60_000);

  test("freeze from the page freezes the agent's cgroup and shows the audit entry; the read-only token has no buttons", async () => {
    const page = await signIn(TOKEN);
    await page.goto(`${base}/#/agent/dash-coder`);
    await page.waitForSelector('button[data-action="freeze"]');
    await page.click('button[data-action="freeze"]');
    await page.waitForSelector(".audit-entry", { timeout: 10_000 });
    expect((await texts(page, ".audit-entry"))[0]).toContain("freeze by api: ok");
    const cgroup = join(cgroup2Mount()!, service.agents.get("dash-coder")!.cgroupPath!);
    expect(readFileSync(join(cgroup, "cgroup.freeze"), "utf8").trim()).toBe("1");
    await page.click('button[data-action="thaw"]');
    await until(() => (readFileSync(join(cgroup, "cgroup.freeze"), "utf8").trim() === "0" ? true : undefined), 5000);
    await page.close();

    const reader = await signIn(readTokenFor(TOKEN));
    expect((await texts(reader, "header .scope"))[0]).toBe("read-only");
    await reader.goto(`${base}/#/agent/dash-coder`);
    await reader.waitForSelector("[data-agent-title]");
    expect(await reader.$$("button[data-action]")).toEqual([]);
    await reader.close();
  }, 60_000);

  test("live events stream in with filters; health shows every drop stage", async () => {
    const page = await signIn(TOKEN);
    await page.goto(`${base}/#/live`);
    await page.waitForSelector(".filters");
    await page.type('.filters input[placeholder="agent"]', "dash-coder");
    await page.keyboard.press("Tab");
    // The agent does something now: a process of its cgroup runs a marker, until the stream shows it.
    const cgroup = join(cgroup2Mount()!, service.agents.get("dash-coder")!.cgroupPath!);
    const live = unique("live");
    await page.type('.filters input[placeholder="text"]', live); // the text filter keeps only the marker's lines in view
    let lines: string[] = [];
    for (let i = 0; i < 20 && lines.length === 0; i++) {
      const p = Bun.spawn(["sh", "-c", `echo $$ > ${cgroup}/cgroup.procs && exec /bin/echo ${live}`], { stdout: "ignore" });
      await p.exited;
      await Bun.sleep(500);
      lines = await texts(page, ".live li");
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.includes(live) && l.includes("dash-coder"))).toBe(true);
    await page.screenshot({ path: join(SHOTS, "live.png"), fullPage: true });
    await page.goto(`${base}/#/policies`);
    await page.waitForSelector("[data-policy-directory]");
    expect((await texts(page, "table td")).join(" ")).toContain("marker-seen");
    await page.screenshot({ path: join(SHOTS, "policies.png"), fullPage: true });
    await page.goto(`${base}/#/health`);
    await page.waitForFunction(() => document.body.textContent?.includes("kernel_ring_full"), { timeout: 10_000 });
    await page.screenshot({ path: join(SHOTS, "health.png"), fullPage: true });
    await page.close();
  }, 60_000);
});

/** Opens a report file from disk with the network off: anything but the file itself is refused and counted. */
async function openOffline(file: string): Promise<{ page: Page; requestsOut: string[] }> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const requestsOut: string[] = [];
  await page.setOfflineMode(true);
  await page.setRequestInterception(true);
  page.on("request", (r) => {
    if (r.url().startsWith("file://")) return void r.continue();
    requestsOut.push(r.url());
    void r.abort();
  });
  await page.goto(`file://${file}`);
  return { page, requestsOut };
}

describe("the one-file report", () => {
  test("vigil run --report: opened from disk offline, it shows the marker exec under its tool call and the finding", async () => {
    const run = startMockLlm({ name: "r", description: "", rogue: false, steps: [{ toolCalls: [{ name: "run_shell", arguments: { command: `echo ${marker} > r.txt` } }] }, { message: "done" }] }, { tls: cert });
    const work = mkdtempSync(join(tmpdir(), "vigil-report-"));
    try {
      const file = join(work, "session.html");
      const p = Bun.spawn([`${ROOT}/bin/vigil`, "run", "--quiet", "--name", "reported", "--policy", join(dir, "policies", "watch.yaml"), "--report", file, "--", "/usr/bin/python3", `${ROOT}/loadtests/agents/tls_agent.py`, "--url", run.url, "--cafile", cert.certPath, "--workdir", work], { stdout: "ignore", stderr: "pipe" });
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      expect(err).toBe("");
      expect(code).toBe(0);
      const html = readFileSync(file, "utf8");
      expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/); // nothing to fetch
      const { page, requestsOut } = await openOffline(file);
      await page.waitForFunction((m) => [...document.querySelectorAll('[data-tool-call="call_0_0"] .caused li')].some((li) => li.textContent?.includes(`echo ${m} > r.txt`)), { timeout: 10_000 }, marker);
      await page.waitForSelector('li.finding[data-finding="watch/marker-seen"]');
      expect(requestsOut).toEqual([]);
      await page.screenshot({ path: join(SHOTS, "report.png"), fullPage: true });
      await page.close();
    } finally {
      run.stop();
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);

  test("vigil report --agent from the service's store renders the same session", async () => {
    const out = join(dir, "from-store.html");
    const p = Bun.spawn([`${ROOT}/bin/vigil`, "report", "--agent", "dash-coder", "--data-dir", join(dir, "data"), "--out", out], { stdout: "ignore", stderr: "pipe" });
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    expect(err).toBe("");
    expect(code).toBe(0);
    const { page } = await openOffline(out);
    await page.waitForFunction((m) => [...document.querySelectorAll('[data-tool-call="call_0_0"] .caused li')].some((li) => li.textContent?.includes(`echo ${m} > marker.txt`)), { timeout: 10_000 }, marker);
    await page.waitForSelector('li.finding[data-finding="watch/marker-seen"]');
    await page.close();
  }, 60_000);
});
