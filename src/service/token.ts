/**
 * The API's bearer tokens. Two scopes: `admin` may do everything; `read` may
 * only read (GET: events, findings, audit, stats, processes, agents,
 * profiles, the stream), which is what scrapers and dashboards need. Each is
 * taken from the configuration, or generated once into the data directory
 * (mode 0600) and kept there.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, timingSafeEqual } from "node:crypto";

export type TokenScope = "admin" | "read";

export interface ApiTokens {
  admin: string;
  read: string;
}

/** Where each generated token is kept in the data directory. */
export const TOKEN_FILES: Record<TokenScope, string> = { admin: "token", read: "read-token" };

export interface LoadedToken {
  token: string;
  /** The file it came from or was written to; null when it came from the configuration. */
  path: string | null;
  generated: boolean;
}

export function loadOrCreateToken(dataDir: string, configured?: string, scope: TokenScope = "admin"): LoadedToken {
  if (configured) return { token: configured, path: null, generated: false };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, TOKEN_FILES[scope]);
  if (existsSync(path)) {
    chmodSync(path, 0o600);
    return { token: readFileSync(path, "utf8").trim(), path, generated: false };
  }
  const token = randomBytes(32).toString("hex");
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return { token, path, generated: true };
}

/** Both tokens; refuses a read token equal to the admin one (it would grant admin). */
export function loadTokens(dataDir: string, configured: { token?: string; readToken?: string }): { tokens: ApiTokens; admin: LoadedToken; read: LoadedToken } {
  const admin = loadOrCreateToken(dataDir, configured.token, "admin");
  const read = loadOrCreateToken(dataDir, configured.readToken, "read");
  if (read.token === admin.token) throw new Error("readToken must differ from token (a read-only token equal to the admin token would grant admin)");
  return { tokens: { admin: admin.token, read: read.token }, admin, read };
}

function same(given: Buffer, want: string): boolean {
  const w = Buffer.from(want);
  return given.length === w.length && timingSafeEqual(given, w);
}

/** The scope an Authorization header grants (scheme `Bearer`, any case), or null. Constant time per token. */
export function bearerScope(header: string | null | undefined, tokens: ApiTokens): TokenScope | null {
  const m = header ? /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
  if (!m) return null;
  const given = Buffer.from(m[1]!);
  const admin = same(given, tokens.admin);
  const read = same(given, tokens.read);
  return admin ? "admin" : read ? "read" : null;
}
