/** A small, strict argument parser for `vigil <command> [options] -- CMD ...`. */

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface OptionSpec {
  /** Takes a value (`--name X` or `--name=X`). */
  value?: boolean;
  /** May be given more than once (values collected in order). */
  repeat?: boolean;
  choices?: readonly string[];
}

export interface Parsed {
  options: Record<string, string | string[] | boolean>;
  /** Everything after `--`, or from the first non-option argument. */
  rest: string[];
}

export function parseArgs(command: string, argv: readonly string[], spec: Record<string, OptionSpec>): Parsed {
  const options: Parsed["options"] = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    if (!arg.startsWith("--")) throw new UsageError(`${command}: unknown option ${arg} (options are long: --name ...)`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`${command}: unknown option --${name}`);
    let value: string | boolean = true;
    if (s.value) {
      if (eq >= 0) value = arg.slice(eq + 1);
      else {
        const next = argv[i + 1];
        if (next === undefined || next === "--") throw new UsageError(`${command}: --${name} needs a value`);
        value = next;
        i++;
      }
      if (value === "") throw new UsageError(`${command}: --${name} needs a non-empty value`);
      if (s.choices && !s.choices.includes(value)) throw new UsageError(`${command}: --${name} must be one of ${s.choices.join(", ")} (got ${JSON.stringify(value)})`);
    } else if (eq >= 0) throw new UsageError(`${command}: --${name} takes no value`);
    if (s.repeat) ((options[name] ??= []) as string[]).push(value as string);
    else if (name in options) throw new UsageError(`${command}: --${name} given twice`);
    else options[name] = value;
  }
  return { options, rest: argv.slice(i) };
}

/** Parses sizes such as 4096, 64k, 16M, 1G. */
export function parseSize(command: string, option: string, text: string): number {
  const m = /^(\d+)([kKmMgG]?)[iI]?[bB]?$/.exec(text);
  if (!m) throw new UsageError(`${command}: --${option}: ${JSON.stringify(text)} is not a size (e.g. 4096, 64K, 16M)`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  return Number(m[1]) * mult;
}
