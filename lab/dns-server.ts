/**
 * A DNS server for tests and benches, run inside a network namespace the test
 * made: answers A queries for the names it is given (a name may be a CNAME to
 * another name, answered with the chain), AAAA queries with no records, other
 * names with NXDOMAIN, on --listen (default 127.0.0.1). It also accepts TCP connections on --tcp-port (and
 * closes them), so a resolved name has something to connect to.
 *
 *   bun lab/dns-server.ts --port 53 --tcp-port 8080 --a allowed.test=127.0.0.2 --cname www.test=allowed.test --ttl 5
 *
 * Prints "ready" on stdout once both sockets are bound.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "53" },
    listen: { type: "string", default: "127.0.0.1" },
    "tcp-port": { type: "string" },
    a: { type: "string", multiple: true, default: [] },
    cname: { type: "string", multiple: true, default: [] },
    ttl: { type: "string", default: "60" },
  },
});
const ttl = Number(values.ttl);
const records = new Map<string, string>(values.a!.map((r) => r.split("=") as [string, string]));
const aliases = new Map<string, string>(values.cname!.map((r) => r.split("=") as [string, string]));

function encodeName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split(".")) out.push(label.length, ...new TextEncoder().encode(label));
  out.push(0);
  return out;
}

function u16(n: number): number[] {
  return [n >> 8, n & 0xff];
}
function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

/** The answer to one query message, or null for something that is not a plain query. */
export function answer(query: Uint8Array): Uint8Array | null {
  if (query.length < 12) return null;
  let pos = 12;
  const labels: string[] = [];
  while (pos < query.length && query[pos] !== 0) {
    const len = query[pos]!;
    labels.push(new TextDecoder().decode(query.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  const qtype = (query[pos + 1]! << 8) | query[pos + 2]!;
  const questionEnd = pos + 5;
  const name = labels.join(".").toLowerCase();
  const chain: number[][] = [];
  let owner = name;
  let ownerAt: number[] = [0xc0, 12];
  for (let hops = 0; hops < 8 && aliases.has(owner); hops++) {
    const target = aliases.get(owner)!;
    const rdata = encodeName(target);
    chain.push([...ownerAt, ...u16(5), ...u16(1), ...u32(ttl), ...u16(rdata.length), ...rdata]);
    ownerAt = rdata; // written out in full again: no compression needed for a test
    owner = target;
  }
  const address = records.get(owner);
  const known = address !== undefined;
  if (known && qtype === 1) chain.push([...ownerAt, ...u16(1), ...u16(1), ...u32(ttl), ...u16(4), ...address.split(".").map(Number)]);
  const answers = qtype === 1 || qtype === 5 ? chain : [];
  const flags = 0x8180 | (known ? 0 : 3); // response, recursion desired and available; NXDOMAIN when unknown
  const header = [query[0]!, query[1]!, ...u16(flags), ...u16(1), ...u16(answers.length), ...u16(0), ...u16(0)];
  return new Uint8Array([...header, ...query.subarray(12, questionEnd), ...answers.flat()]);
}

if (import.meta.main) {
  await Bun.udpSocket({
    hostname: values.listen!,
    port: Number(values.port),
    socket: {
      data(socket, buf, port, address) {
        const reply = answer(new Uint8Array(buf));
        if (reply) socket.send(reply, port, address);
      },
    },
  });
  if (values["tcp-port"]) Bun.listen({ hostname: "0.0.0.0", port: Number(values["tcp-port"]), socket: { open: (s) => void s.end(), data() {} } });
  console.log("ready");
}
