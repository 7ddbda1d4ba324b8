/**
 * Which optional event kinds an observer captures. Process events (exec,
 * fork, exit) always are: the process tree is built from them. Each optional
 * kind has a price on every syscall of the machine, not just its own: opens
 * and connects are read at their syscall's exit, and hooking any syscall's
 * exit trace event makes the kernel test every syscall's exit against it;
 * a credential change is checked at the thread's next syscall entry. An
 * observer that leaves all three out runs one hook per syscall instead of
 * two (see docs/benchmarks.md, the storm's "no open/connect/cred" row).
 */
export const CAPTURE_KINDS = ["open", "connect", "cred"] as const;
export type CaptureKind = (typeof CAPTURE_KINDS)[number];

/**
 * A capture list as users write it: kinds separated by commas, or `none`.
 * Throws an Error naming `what` (the option or setting) and the bad item.
 */
export function parseCaptureList(what: string, text: string): CaptureKind[] {
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === "none") return [];
  if (items.length === 0) throw new Error(`${what}: empty; give some of ${CAPTURE_KINDS.join(", ")}, or none`);
  const out: CaptureKind[] = [];
  for (const item of items) {
    if (!(CAPTURE_KINDS as readonly string[]).includes(item)) throw new Error(`${what}: unknown event kind ${JSON.stringify(item)} (known: ${CAPTURE_KINDS.join(", ")}, or none alone)`);
    if (!out.includes(item as CaptureKind)) out.push(item as CaptureKind);
  }
  return out;
}
