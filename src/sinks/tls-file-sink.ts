/**
 * Finds the files TLS is read from as the observed processes use them: each
 * program run and each shared library opened is judged once (TlsProbes) and
 * hooked when it defines OpenSSL's read and write. The system libssl is
 * hooked from the start; this covers programs with their own copy (node)
 * and says which agents run a TLS stack that cannot be read.
 */
import type { VigilEvent } from "../events/types";
import type { EventSink } from "../pipeline/event-pipeline";
import type { TlsProbes } from "../sensor/tls-probes";

const SHARED_LIBRARY = /\.so(\.\d+)*$/;

export class TlsFileSink implements EventSink {
  readonly name = "tls-files";

  constructor(private readonly probes: TlsProbes) {}

  write(e: VigilEvent): void {
    if (!this.probes.bound) return;
    if (e.type === "exec") this.probes.used(e.agent ?? null, e.filename);
    else if (e.type === "open" && e.ret >= 0 && SHARED_LIBRARY.test(e.path)) this.probes.used(e.agent ?? null, e.path);
  }
}
