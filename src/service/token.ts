/** The API bearer token: from config, or generated once and kept in the data dir (mode 0600). */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, timingSafeEqual } from "node:crypto";

export function loadOrCreateToken(dataDir: string, configured?: string): { token: string; path: string | null; generated: boolean } {
  if (configured) return { token: configured, path: null, generated: false };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, "token");
  if (existsSync(path)) {
    chmodSync(path, 0o600);
    return { token: readFileSync(path, "utf8").trim(), path, generated: false };
  }
  const token = randomBytes(32).toString("hex");
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return { token, path, generated: true };
}

/** Constant-time check of an Authorization header against the token. */
export function bearerMatches(header: string | null | undefined, token: string): boolean {
  if (!header?.startsWith("Bearer ")) return false;
  const given = Buffer.from(header.slice(7).trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
