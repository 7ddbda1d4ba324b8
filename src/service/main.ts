/**
 * `npm run service` / `bun src/service/main.ts [--config FILE] [--check-config]`:
 * the node daemon. Config from VIGIL_* variables over an optional file.
 */
import { ConfigError, loadConfig } from "./config";
import { DEFAULT_OBJECT_PATH } from "../observer/observer";
import { checkRequirements, missing } from "../observer/requirements";
import { createApp } from "./app";
import { log, setLogLevel } from "./log";
import { loadOrCreateToken } from "./token";
import { VigilService } from "./vigil-service";

const args = process.argv.slice(2);
const fileArg = args.indexOf("--config");
const unknown = args.filter((a, i) => !["--config", "--check-config"].includes(a) && i !== fileArg + 1);
if (unknown.length || (fileArg >= 0 && !args[fileArg + 1])) {
  log("error", "usage: service [--config FILE] [--check-config]", { unknown });
  process.exit(2);
}
let config;
try {
  config = loadConfig({ file: fileArg >= 0 ? args[fileArg + 1] : undefined });
} catch (e) {
  if (e instanceof ConfigError) {
    log("error", "invalid configuration", { problems: e.problems });
    process.exit(2);
  }
  throw e;
}
if (args.includes("--check-config")) {
  const { token: _secret, ...shown } = config;
  console.log(JSON.stringify({ status: "ok", config: shown }, null, 2));
  process.exit(0);
}

setLogLevel(config.logLevel);
const lacking = missing(checkRequirements(DEFAULT_OBJECT_PATH));
if (lacking.length) {
  log("error", "eBPF unavailable", { missing: lacking.map((r) => `${r.name}: ${r.detail}`) });
  process.exit(2);
}

const token = loadOrCreateToken(config.dataDir, config.token);
const service = new VigilService(config);
service.start();
const app = createApp(service, token.token);
app.listen({ hostname: config.host, port: config.port });
log("info", "listening", {
  url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${app.server?.port}`,
  dataDir: config.dataDir,
  tokenFile: token.path ?? "(from configuration)",
  tokenGenerated: token.generated,
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const t0 = performance.now();
  const guard = setTimeout(() => {
    log("error", "shutdown took longer than 4.5 s; exiting", { signal });
    process.exit(1);
  }, 4500);
  const problems = await service.stop(); // readiness 503, streams closed, BPF detached, store flushed
  await app.stop(true);
  clearTimeout(guard);
  log("info", "stopped", { signal, ms: Math.round(performance.now() - t0), problems });
  process.exit(problems.length ? 1 : 0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
