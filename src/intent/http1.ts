/**
 * HTTP/1.1 messages rebuilt from one direction of a TLS connection's
 * plaintext, fed in order: the head, then the body framed by
 * Content-Length or chunked transfer coding (a response with neither runs
 * until the connection's next request, or the end). Bodies are decoded
 * (gzip, deflate, br) once complete and kept up to a bound; beyond it the
 * message is marked truncated and only counted.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";

/** A head longer than this is not HTTP as agents speak it: the connection is given up. */
const MAX_HEAD = 64 * 1024;
const CRLF2 = Buffer.from("\r\n\r\n");

export interface HttpMessage {
  /** `POST /v1/messages HTTP/1.1` or `HTTP/1.1 200 OK`. */
  startLine: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** The decoded body (up to the bound). */
  body: Buffer;
  /** Body bytes as sent (before decoding), all of them. */
  bodyBytes: number;
  truncated: boolean;
  firstKtimeNs: number;
  lastKtimeNs: number;
}

export class HttpProtocolError extends Error {}

type BodyMode = { kind: "length"; left: number } | { kind: "chunked"; left: number; state: "size" | "data" | "crlf" | "trailer" } | { kind: "open" } | { kind: "none" };

export class Http1Parser {
  private pending: Buffer = Buffer.alloc(0);
  private head: { startLine: string; headers: Map<string, string>; firstKtimeNs: number } | null = null;
  private mode: BodyMode = { kind: "none" };
  private body: Buffer[] = [];
  private kept = 0;
  private bodyBytes = 0;
  private truncated = false;
  private lastKtimeNs = 0;

  constructor(
    readonly role: "request" | "response",
    private readonly maxBody: number,
  ) {}

  /** Whether a message is under way (its head seen, its body not complete). */
  get inMessage(): boolean {
    return this.head !== null;
  }

  /** Whether any bytes of a message are held (its head not complete yet, or its body). */
  get busy(): boolean {
    return this.head !== null || this.pending.length > 0;
  }

  /** Feed bytes; returns the messages they complete. Throws HttpProtocolError on bytes that are not HTTP/1.1. */
  push(data: Uint8Array, ktimeNs: number, truncatedInput = false): HttpMessage[] {
    const out: HttpMessage[] = [];
    this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : Buffer.from(data);
    this.lastKtimeNs = ktimeNs;
    if (truncatedInput && this.head) this.truncated = true;
    for (;;) {
      if (!this.head) {
        if (this.pending.length === 0) break;
        const end = this.pending.indexOf(CRLF2);
        if (end < 0) {
          if (this.pending.length > MAX_HEAD) throw new HttpProtocolError("head longer than 64 KiB");
          if (!looksLikeStart(this.pending, this.role)) throw new HttpProtocolError("not an HTTP/1.1 message");
          break;
        }
        this.startMessage(this.pending.subarray(0, end).toString("latin1"), ktimeNs);
        this.pending = this.pending.subarray(end + 4);
        if (this.mode.kind === "none") {
          out.push(this.finish());
          continue;
        }
      }
      if (!this.consumeBody()) break;
      out.push(this.finish());
    }
    return out;
  }

  /** The connection's next request began (or it ended): a response running until close is complete. */
  endOpen(): HttpMessage | null {
    if (!this.head || this.mode.kind !== "open") return null;
    this.take(this.pending);
    this.pending = Buffer.alloc(0);
    return this.finish();
  }

  private startMessage(text: string, ktimeNs: number): void {
    const lines = text.split("\r\n");
    const startLine = lines[0]!;
    if (!looksLikeStart(Buffer.from(startLine), this.role)) throw new HttpProtocolError("not an HTTP/1.1 message");
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    this.head = { startLine, headers, firstKtimeNs: ktimeNs };
    const te = headers.get("transfer-encoding")?.toLowerCase() ?? "";
    const length = headers.get("content-length");
    const status = this.role === "response" ? Number(startLine.split(" ")[1]) : 0;
    if (te.includes("chunked")) this.mode = { kind: "chunked", left: 0, state: "size" };
    else if (length !== undefined && /^\d+$/.test(length)) this.mode = Number(length) > 0 ? { kind: "length", left: Number(length) } : { kind: "none" };
    else if (this.role === "request" || status === 204 || status === 304 || (status >= 100 && status < 200)) this.mode = { kind: "none" };
    else this.mode = { kind: "open" };
  }

  /** Moves body bytes out of `pending`; true when the body is complete. */
  private consumeBody(): boolean {
    const m = this.mode;
    if (m.kind === "open") {
      this.take(this.pending);
      this.pending = Buffer.alloc(0);
      return false;
    }
    if (m.kind === "length") {
      const n = Math.min(m.left, this.pending.length);
      this.take(this.pending.subarray(0, n));
      this.pending = this.pending.subarray(n);
      m.left -= n;
      return m.left === 0;
    }
    if (m.kind !== "chunked") return true;
    for (;;) {
      if (m.state === "size" || m.state === "trailer") {
        const eol = this.pending.indexOf("\r\n");
        if (eol < 0) return false;
        const line = this.pending.subarray(0, eol).toString("latin1");
        this.pending = this.pending.subarray(eol + 2);
        if (m.state === "trailer") {
          if (line === "") return true;
          continue;
        }
        const size = Number.parseInt(line.split(";")[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw new HttpProtocolError(`bad chunk size ${JSON.stringify(line.slice(0, 20))}`);
        if (size === 0) m.state = "trailer";
        else {
          m.left = size;
          m.state = "data";
        }
      } else if (m.state === "data") {
        const n = Math.min(m.left, this.pending.length);
        this.take(this.pending.subarray(0, n));
        this.pending = this.pending.subarray(n);
        m.left -= n;
        if (m.left > 0) return false;
        m.state = "crlf";
      } else {
        if (this.pending.length < 2) return false;
        this.pending = this.pending.subarray(2);
        m.state = "size";
      }
    }
  }

  private take(bytes: Buffer): void {
    this.bodyBytes += bytes.length;
    const room = this.maxBody - this.kept;
    if (room <= 0) {
      if (bytes.length) this.truncated = true;
      return;
    }
    const kept = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (kept.length < bytes.length) this.truncated = true;
    this.body.push(Buffer.from(kept));
    this.kept += kept.length;
  }

  private finish(): HttpMessage {
    const head = this.head!;
    let body = Buffer.concat(this.body);
    const encoding = head.headers.get("content-encoding")?.toLowerCase();
    if (encoding && body.length && !this.truncated) {
      try {
        if (encoding === "gzip" || encoding === "x-gzip") body = gunzipSync(body);
        else if (encoding === "deflate") body = inflateSync(body);
        else if (encoding === "br") body = brotliDecompressSync(body);
      } catch {
        this.truncated = true; // undecodable: kept as sent
      }
    }
    const msg: HttpMessage = { startLine: head.startLine, headers: head.headers, body, bodyBytes: this.bodyBytes, truncated: this.truncated, firstKtimeNs: head.firstKtimeNs, lastKtimeNs: this.lastKtimeNs };
    this.head = null;
    this.mode = { kind: "none" };
    this.body = [];
    this.kept = 0;
    this.bodyBytes = 0;
    this.truncated = false;
    return msg;
  }
}

const REQUEST_STARTS = ["GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "HEAD ", "OPTIONS ", "CONNECT ", "TRACE "];
const RESPONSE_STARTS = ["HTTP/1."];

/** Whether bytes can be the start of an HTTP/1.x message of this role (judged on as much as has arrived). */
export function looksLikeStart(bytes: Uint8Array, role: "request" | "response"): boolean {
  const start = Buffer.from(bytes.subarray(0, 8)).toString("latin1");
  return (role === "request" ? REQUEST_STARTS : RESPONSE_STARTS).some((m) => m.startsWith(start.slice(0, m.length)) && (start.length >= m.length || m.startsWith(start)));
}

/** The HTTP/2 connection preface a client sends first. */
export function isHttp2Preface(data: Uint8Array): boolean {
  return Buffer.from(data.subarray(0, 14)).toString("latin1") === "PRI * HTTP/2.0";
}
