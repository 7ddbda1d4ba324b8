/** Shared fixtures for tests that load real BPF programs and cause real activity. */
import { OwnedCgroup } from "../src/cgroup/cgroup";
import type { ProcessEvent } from "../src/events/types";
import { Observer, type ObserverOptions } from "../src/observer/observer";

export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** A unique token for names and arguments, so a test finds its own events among the machine's. */
export function unique(prefix = "vigil-test"): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A cgroup of the test's own, plus a scoped observer collecting its events. */
export class ObservedCgroup {
  readonly cgroup: OwnedCgroup;
  readonly observer: Observer;
  readonly events: ProcessEvent[] = [];

  constructor(options: Partial<ObserverOptions> = {}) {
    this.cgroup = OwnedCgroup.create(unique("t"));
    this.observer = new Observer({
      cgroupIds: [this.cgroup.id],
      ...options,
      onEvent: (e) => {
        this.events.push(e);
        options.onEvent?.(e);
      },
    });
    this.observer.start();
  }

  /** Runs a shell script inside the cgroup (the shell joins it before anything else). */
  spawn(script: string): Bun.Subprocess<"ignore", "pipe", "pipe"> {
    return Bun.spawn(this.cgroup.shellArgv(script), {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
  }

  async run(script: string): Promise<{ pid: number; exitCode: number | null; stdout: string }> {
    const p = this.spawn(script);
    const stdout = await new Response(p.stdout).text();
    await p.exited;
    return { pid: p.pid, exitCode: p.exitCode, stdout };
  }

  /** Drains until an event matches, or fails after timeoutMs. */
  async waitFor<T extends ProcessEvent>(pred: (e: ProcessEvent) => e is T, timeoutMs?: number): Promise<T>;
  async waitFor(pred: (e: ProcessEvent) => boolean, timeoutMs?: number): Promise<ProcessEvent>;
  async waitFor(pred: (e: ProcessEvent) => boolean, timeoutMs = 2000): Promise<ProcessEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.observer.drain();
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms (${this.events.length} events seen)`);
      await Bun.sleep(5);
    }
  }

  async close(): Promise<void> {
    this.observer.stop();
    this.cgroup.killAll();
    await this.cgroup.remove();
  }
}

/** Fails loudly (never skips) when the machine cannot run eBPF tests: CI must not pass without BPF. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("eBPF tests must run as root (CI runs as root with BPF available)");
}

export { until } from "../lab/until";

/** The read-only token an in-process test service gets beside its admin token. */
export const readTokenFor = (token: string) => `read-${token}`;

/** A service in this process on a free loopback port, with the real observer. */
export async function startInProcessService(env: Record<string, string>, token: string, tune?: (c: import("../src/service/config").Config) => void) {
  const { loadConfig } = await import("../src/service/config");
  const { VigilService } = await import("../src/service/vigil-service");
  const { createApp, listenOptions } = await import("../src/service/app");
  const config = loadConfig({ env: { VIGIL_PORT: "0", ...env } });
  tune?.(config);
  const service = new VigilService(config);
  service.start();
  const app = createApp(service, { admin: token, read: readTokenFor(token) });
  app.listen(listenOptions({ host: "127.0.0.1", port: 0 }));
  return {
    service,
    base: `http://127.0.0.1:${app.server!.port}`,
    async stop() {
      await service.stop();
      await app.stop(true);
    },
  };
}
