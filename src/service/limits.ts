/** The API's request limits: answered by Vigil as JSON errors (413, 431), documented in the README. */

/** Request bodies beyond this many bytes get 413, whether Content-Length says so or a chunked body grows past it. */
export const MAX_BODY_BYTES = 1 << 20;
/** Request headers (names and values) beyond this many bytes get 431. */
export const MAX_HEADER_BYTES = 16 << 10;
/**
 * Bun's own header limit (`bun --max-http-header-size`, which every launcher of the daemon passes: package.json,
 * lab/daemon.ts, the DaemonSet): above it Bun answers a bare 431 before Vigil sees the request, so it sits far
 * above MAX_HEADER_BYTES.
 */
export const BUN_MAX_HEADER_BYTES = 256 << 10;
