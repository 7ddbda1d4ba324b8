/**
 * A network namespace a test makes and removes, with loopback up and its own
 * resolv.conf (`ip netns exec` mounts /etc/netns/NAME/resolv.conf over
 * /etc/resolv.conf for what it runs). Nothing outside it is touched.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";

export interface TestNetns {
  name: string;
  /** argv prefix that runs a command inside the namespace. */
  exec: string[];
  remove(): void;
}

function ip(args: string[]): void {
  const r = Bun.spawnSync(["ip", ...args], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.toString().trim()}`);
}

export function makeNetns(name: string, nameserver = "127.0.0.1"): TestNetns {
  ip(["netns", "add", name]);
  const etc = `/etc/netns/${name}`;
  try {
    ip(["-n", name, "link", "set", "lo", "up"]);
    mkdirSync(etc, { recursive: true });
    writeFileSync(`${etc}/resolv.conf`, `nameserver ${nameserver}\noptions attempts:1 timeout:2\n`);
  } catch (e) {
    ip(["netns", "del", name]);
    throw e;
  }
  return {
    name,
    exec: ["ip", "netns", "exec", name],
    remove() {
      rmSync(etc, { recursive: true, force: true });
      Bun.spawnSync(["ip", "netns", "del", name]);
    },
  };
}
