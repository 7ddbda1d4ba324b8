/**
 * Reads a byte stream to its end and hands over each piece between
 * separators (log lines on "\n", SSE frames on "\n\n"), however the chunks
 * fall. Resolves with the unterminated rest (a last log line without its
 * newline, or a frame cut off by an abort), for the caller to keep or not.
 * A read error rejects, unless `endOnError`: then it ends the stream as its
 * end would (for readers that only collect, like a daemon's logs).
 */
export async function forEachDelimited(
  stream: ReadableStream<Uint8Array>,
  separator: string,
  onPiece: (piece: string) => void,
  endOnError = false,
): Promise<string> {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const read = reader.read();
    const { value, done } = await (endOnError ? read.catch(() => ({ value: undefined, done: true as const })) : read);
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let at: number;
    while ((at = buf.indexOf(separator)) >= 0) {
      onPiece(buf.slice(0, at));
      buf = buf.slice(at + separator.length);
    }
  }
  return buf;
}
