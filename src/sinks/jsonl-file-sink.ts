/** Writes events as JSON lines to a file, buffered (Bun's FileSink). */
import type { FileSink } from "bun";
import { writeFileSync } from "node:fs";
import type { VigilEvent } from "../events/types";
import type { EventSink } from "../pipeline/event-pipeline";

export class JsonlFileSink implements EventSink {
  readonly name = "events-file";
  private readonly writer: FileSink;
  written = 0;

  constructor(readonly path: string) {
    // Bun's FileSink writes from offset 0 without truncating: an older, longer file would leave its tail behind.
    writeFileSync(path, "");
    this.writer = Bun.file(path).writer({ highWaterMark: 1 << 20 });
  }

  write(event: VigilEvent): void {
    this.writer.write(`${JSON.stringify(event)}\n`);
    this.written++;
  }

  async close(): Promise<void> {
    await this.writer.end();
  }
}
