/** Normalizes what bun:ffi returns for C pointers and strings. */
import type { Pointer } from "bun:ffi";

/** bun:ffi types pointer returns as Pointer | bigint | null; libbpf's fit in a JS number. */
export function toPtr(p: Pointer | bigint | null): Pointer | null {
  if (p === null || p === 0 || p === 0n) return null;
  return (typeof p === "bigint" ? Number(p) : p) as Pointer;
}

/** A C string return (libbpf never returns NULL for names of valid objects). */
export function str(s: { toString(): string } | null): string {
  return s === null ? "" : s.toString();
}
