/**
 * Secrets out of command lines before an event reaches any sink (store,
 * stream, JSONL, findings, the process tree). A command line is the most
 * common place a secret is handed to a process, and Vigil records every
 * one on the machine, its own API token included when a client passes it
 * to curl. What is cut:
 * - the value of a credential flag: `--password`, `--token`, `--api-key`,
 *   `--secret`… (`--flag VALUE` and `--flag=VALUE`), the password half of
 *   `-u/--user user:password`, and `-pVALUE` / `-p VALUE` for the programs
 *   whose `-p` is a password (mysql, mariadb, mysqldump, sshpass)
 * - the credential of a header line, wherever it stands (`-H 'Authorization:
 *   Bearer …'`, `--header=…`, a script): Authorization, Cookie, X-Api-Key…
 *   (the scheme is kept); and `Bearer …` anywhere
 * - `KEY=VALUE` where the key names a secret (`*TOKEN*`, `*SECRET*`,
 *   `*PASSWORD*`, `*PASSWD*`, `*_KEY`, `*APIKEY*`, `*CREDENTIAL*`)
 * - the password of a URL (`scheme://user:password@host`)
 * - well-known token shapes: `sk-…` (OpenAI, Anthropic), GitHub `ghp_…`
 *   (and gho/ghu/ghs/ghr, github_pat_), Slack `xox…-`, AWS access key ids
 *   `AKIA…`/`ASIA…`, JWTs
 * - whatever the user's extra patterns match
 * Every cut leaves `[REDACTED]` in place and counts in the event's `redacted`.
 * The string rules also run inside each argument, so a secret within a
 * `sh -c` script is cut as well.
 */
import type { ProcessEvent } from "./types";

export const REDACTED = "[REDACTED]";

export interface RedactionOptions {
  /** Off keeps command lines whole (forensics on a machine whose store is itself guarded). */
  enabled: boolean;
  /** Extra patterns (JavaScript regular expressions): every match is cut. */
  patterns: readonly string[];
}

export const DEFAULT_REDACTION: RedactionOptions = { enabled: true, patterns: [] };

const SECRET_KEY = /(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|APIKEY|API_KEY|CREDENTIAL|PRIVATE_KEY|_KEY|^KEY)$|(TOKEN|SECRET|PASSWORD|PASSWD|APIKEY|API_KEY|CREDENTIAL)/i;
/** Flags whose next argument (or `=` value) is a secret. */
const SECRET_FLAG = /^--?(password|passwd|pass|token|access-token|auth-token|api-key|apikey|api-token|secret|client-secret|private-key|passphrase|bearer|oauth-token)$/i;
const USER_FLAG = /^(-u|--user|--proxy-user)$/;
/** Programs whose `-p` is a password, not a port or a parent-directory switch. */
const P_IS_PASSWORD = new Set(["mysql", "mariadb", "mysqldump", "mysqladmin", "sshpass"]);

/** Rules that run inside any string: [pattern, replacement]. */
const STRING_RULES: [RegExp, string][] = [
  // header lines, wherever they are (a script, a -H value, --header=…)
  [/\b(authorization|proxy-authorization|x-api-key|api-key|x-auth-token|x-access-token|private-token|x-vault-token|cookie)(\s*:\s*)(?:(bearer|basic|token|digest)\s+)?[^'"\r\n]+/gi, `$1$2$3 ${REDACTED}`],
  [/\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1$2${REDACTED}`],
  // URL passwords
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]+):[^\s@/'"]+@/gi, `$1:${REDACTED}@`],
  // KEY=VALUE with a secret-looking key
  [/\b([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s'";&|]+)/g, "\u0000kv"],
  // token shapes
  [/\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}/g, REDACTED],
  [/\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/g, REDACTED],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, REDACTED],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, REDACTED],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, REDACTED],
];

export class Redactor {
  private readonly extra: RegExp[];

  constructor(readonly options: RedactionOptions = DEFAULT_REDACTION) {
    this.extra = options.patterns.map((p) => new RegExp(p, "g"));
  }

  /** Checks extra patterns up front: a bad one is an error naming it. */
  static compile(patterns: readonly string[]): string[] {
    const problems: string[] = [];
    for (const p of patterns) {
      try {
        new RegExp(p, "g");
      } catch (e) {
        problems.push(`${JSON.stringify(p)}: ${(e as Error).message}`);
      }
    }
    return problems;
  }

  /** Cuts secrets from a string; returns it with the number of cuts. */
  redactString(text: string): { text: string; count: number } {
    let count = 0;
    let out = text;
    for (const [re, replacement] of STRING_RULES) {
      if (replacement === "\u0000kv") {
        out = out.replace(re, (whole, key: string, value: string) => {
          if (!SECRET_KEY.test(key) || value === REDACTED || value.length === 0) return whole;
          count++;
          return `${key}=${REDACTED}`;
        });
        continue;
      }
      out = out.replace(re, (...m: unknown[]) => {
        const whole = m[0] as string;
        if (whole.includes(REDACTED)) return whole;
        count++;
        return replacement.replace(/\$(\d)/g, (_, n: string) => (m[Number(n)] as string | undefined) ?? "").replace(/ {2,}/g, " ");
      });
    }
    for (const re of this.extra) {
      out = out.replace(re, () => {
        count++;
        return REDACTED;
      });
    }
    return { text: out, count };
  }

  /** Cuts secrets from an argument vector: flag values by position, then the string rules in each argument. */
  redactArgv(argv: readonly string[]): { argv: string[]; count: number } {
    let count = 0;
    const out = argv.slice();
    const program = (out[0] ?? "").split("/").pop() ?? "";
    for (let i = 1; i < out.length; i++) {
      const a = out[i]!;
      const eq = a.indexOf("=");
      const flag = a.startsWith("-") && eq > 0 ? a.slice(0, eq) : a;
      if (SECRET_FLAG.test(flag)) {
        if (eq > 0 && a.startsWith("-")) {
          if (a.slice(eq + 1) !== REDACTED) (out[i] = `${flag}=${REDACTED}`), count++;
        } else if (i + 1 < out.length && out[i + 1] !== REDACTED) (out[i + 1] = REDACTED), count++, i++;
        continue;
      }
      if (USER_FLAG.test(flag) && i + 1 < out.length && eq < 0) {
        const v = out[i + 1]!;
        const colon = v.indexOf(":");
        if (colon >= 0 && v.slice(colon + 1) !== REDACTED) (out[i + 1] = `${v.slice(0, colon)}:${REDACTED}`), count++;
        i++;
        continue;
      }
      if (P_IS_PASSWORD.has(program) && a.startsWith("-p")) {
        if (a.length > 2) (out[i] = `-p${REDACTED}`), count++;
        else if (program === "sshpass" && i + 1 < out.length) (out[i + 1] = REDACTED), count++, i++;
      }
    }
    for (let i = 0; i < out.length; i++) {
      const r = this.redactString(out[i]!);
      if (r.count) (out[i] = r.text), (count += r.count);
    }
    return { argv: out, count };
  }

  /** Redacts an event in place (argv and filename of an exec, or of a failed one); sets `redacted` when anything was cut. */
  apply(event: ProcessEvent): void {
    if (!this.options.enabled || (event.type !== "exec" && event.type !== "exec_failed")) return;
    const r = this.redactArgv(event.argv);
    const f = this.redactString(event.filename);
    if (r.count + f.count === 0) return;
    event.argv = r.argv;
    event.filename = f.text;
    event.redacted = r.count + f.count;
  }
}
