/**
 * `npm run service` / `bun src/service/main.ts [--config FILE] [--check-config]`:
 * the node daemon. Config from VIGIL_* variables over an optional file.
 */
import { ConfigError, loadConfig } from "./config";
import { DEFAULT_OBJECT_PATH } from "../sensor/sensor";
import { checkRequirements, missing } from "../sensor/requirements";
import { createApp, listenOptions } from "./app";
import { log, setLogLevel } from "./log";
import { loadTokens } from "./token";
import { isLoopback } from "./config";
import { VigilService } from "./vigil-service";
import { DataDirInUse } from "./data-dir";

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
  const { token: _secret, readToken: _readSecret, ...shown } = config;
  console.log(JSON.stringify({ status: "ok", config: shown }, null, 2));
  process.exit(0);
}

setLogLevel(config.logLevel);
const lacking = missing(checkRequirements(DEFAULT_OBJECT_PATH));
if (lacking.length) {
  log("error", "eBPF unavailable", { missing: lacking.map((r) => `${r.name}: ${r.detail}`) });
  process.exit(2);
}

let service: VigilService;
try {
  service = new VigilService(config); // takes the data directory's lock first
} catch (e) {
  if (e instanceof DataDirInUse) {
    log("error", e.message);
    process.exit(2);
  }
  throw e;
}
const tokens = loadTokens(config.dataDir, config);
const app = createApp(service, tokens.tokens);
try {
  // Before any program is loaded: a port already taken stops the start with nothing to undo.
  app.listen(listenOptions(config));
} catch (e) {
  log("error", `cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`);
  process.exit(2);
}
service.start();
if (!isLoopback(config.host) && !config.tls) log("warn", "serving without TLS on a non-loopback address (allowPlaintext): tokens and events cross the network in clear", { host: config.host });
log("info", "listening", {
  url: `${config.tls ? "https" : "http"}://${config.host.includes(":") ? `[${config.host}]` : config.host}:${app.server?.port}`,
  dataDir: config.dataDir,
  tokenFile: tokens.admin.path ?? "(from configuration)",
  tokenGenerated: tokens.admin.generated,
  readTokenFile: tokens.read.path ?? "(from configuration)",
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
