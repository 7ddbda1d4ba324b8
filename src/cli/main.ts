/** Entry point of bin/vigil. */
import { UsageError } from "./args";
import { RUN_USAGE, RunError, runCommand } from "./run";
import { POLICY_USAGE, policyCommand } from "./policy";
import { REPORT_USAGE, reportCommand } from "./report";

const USAGE = `usage: vigil <command> [options]

commands:
  run      run a command under observation and summarize what it did
           ${RUN_USAGE.replace(/\n/g, "\n           ")}
  policy   validate policies, or replay an event log against them
           ${POLICY_USAGE.replace(/\n/g, "\n           ")}
  report   one self-contained HTML file telling an agent's session, from a service's store
           ${REPORT_USAGE.replace(/\n/g, "\n           ")}
  doctor   check what eBPF observation needs on this machine`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "run":
      return runCommand(rest);
    case "policy":
      return policyCommand(rest);
    case "report":
      return reportCommand(rest);
    case "doctor": {
      const { doctor } = await import("./doctor");
      return doctor();
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`vigil: unknown command ${JSON.stringify(cmd)} (try: vigil help)`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = 2;
  } else if (e instanceof RunError) {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = e.exitCode;
  } else {
    process.stderr.write(`vigil: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
