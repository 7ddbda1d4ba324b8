/**
 * Bundles the dashboard (ui/main.tsx, Preact) with Bun's bundler into
 * build/ui/app.js, and copies its stylesheet: the service serves both from
 * its own origin and `vigil report` inlines them. Rebuilds only when a
 * source is newer than the bundle.
 */
import { mkdirSync, readdirSync, statSync, copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const out = join(root, "build/ui");
const bundle = join(out, "app.js");
const sources = readdirSync(join(root, "ui")).map((f) => join(root, "ui", f));
const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs), statSync(join(root, "package.json")).mtimeMs);
if (existsSync(bundle) && statSync(bundle).mtimeMs >= newest && existsSync(join(out, "app.css"))) process.exit(0);
mkdirSync(out, { recursive: true });
const r = await Bun.build({ entrypoints: [join(root, "ui/main.tsx")], outdir: out, naming: "app.js", minify: true, target: "browser", sourcemap: "none" });
if (!r.success) {
  for (const log of r.logs) console.error(log);
  process.exit(1);
}
copyFileSync(join(root, "ui/app.css"), join(out, "app.css"));
console.error(`vigil build: ${bundle} (${(statSync(bundle).size / 1024).toFixed(0)} KiB)`);
