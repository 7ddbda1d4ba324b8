/**
 * The dashboard: one HTML shell at `/` and the bundle built from ui/ by
 * scripts/build-ui.ts, all from this origin (no CDN; the strict CSP below
 * allows nothing else). The page holds no data and needs no token: it asks
 * for one and sends it only in the headers of its API requests.
 */
import { Elysia } from "elysia";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const UI_DIR = resolve(import.meta.dir, "../../build/ui");
const FILES: Record<string, string> = { "app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8" };
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const HEADERS = { "content-security-policy": CSP, "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" };

const SHELL = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" /><title>Vigil</title><link rel="stylesheet" href="/ui/app.css" /></head>
<body><div id="app"></div><script type="module" src="/ui/app.js"></script></body>
</html>`;

export function dashboard() {
  return new Elysia({ name: "vigil-dashboard" })
    .get("/", () => new Response(SHELL, { headers: { "content-type": "text/html; charset=utf-8", ...HEADERS } }), { detail: { hide: true } })
    .get(
      "/ui/:file",
      ({ params, set }) => {
        const type = FILES[params.file];
        const path = join(UI_DIR, params.file);
        if (!type || !existsSync(path)) {
          set.status = 404;
          return { error: "not_found", message: type ? "the dashboard is not built (npm run setup builds it)" : "no such asset" };
        }
        return new Response(Bun.file(path), { headers: { "content-type": type, "cache-control": "no-cache", ...HEADERS } });
      },
      { detail: { hide: true } },
    );
}
