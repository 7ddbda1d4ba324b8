/**
 * `vigil report --agent NAME [--since TIME] [--data-dir DIR] [--out FILE]`: one self-contained HTML file
 * telling an agent's session, from a data directory's store (a running daemon's too: it is read, not
 * locked). Written to FILE, or to standard output.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { renderReport, sessionFromStore } from "../report/report";
import { parseArgs, UsageError } from "./args";

export const REPORT_USAGE = `usage: vigil report --agent NAME [--since TIME] [--data-dir DIR] [--out FILE]
  TIME: epoch milliseconds or RFC 3339; DIR: the service's dataDir (default ./.vigil, or VIGIL_DATA_DIR)`;

const SPEC = { agent: { value: true }, since: { value: true }, "data-dir": { value: true }, out: { value: true }, help: {} } as const;

export function reportCommand(argv: readonly string[]): number {
  const { options, rest } = parseArgs("vigil report", argv, SPEC);
  if (options.help) {
    console.log(REPORT_USAGE);
    return 0;
  }
  if (rest.length) throw new UsageError(`vigil report: unexpected argument ${JSON.stringify(rest[0])}\n${REPORT_USAGE}`);
  const agent = options.agent as string | undefined;
  if (!agent) throw new UsageError(`vigil report: --agent is required\n${REPORT_USAGE}`);
  let since: number | undefined;
  if (options.since !== undefined) {
    const text = options.since as string;
    since = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
    if (!Number.isFinite(since)) throw new UsageError(`vigil report: --since: ${JSON.stringify(text.slice(0, 100))} is not epoch milliseconds or an RFC 3339 time`);
  }
  const dataDir = resolve((options["data-dir"] as string | undefined) ?? process.env.VIGIL_DATA_DIR ?? "./.vigil");
  if (!existsSync(join(dataDir, "events.db"))) throw new UsageError(`vigil report: no store in ${dataDir} (give the service's data directory with --data-dir)`);
  const html = renderReport(sessionFromStore(dataDir, agent, since));
  if (options.out) writeFileSync(options.out as string, html);
  else process.stdout.write(html);
  return 0;
}
