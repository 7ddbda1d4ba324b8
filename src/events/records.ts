/**
 * What Vigil records beside events: findings (a policy rule hit, a deviation
 * from an agent's baseline) and audit entries (an intervention carried out).
 * Their producers live above (policy, profiles, enforce); the sinks that
 * store, stream and count them take them from here.
 */
import type { ActionName } from "../abi/layout";
import type { VigilEvent } from "./types";

export const SEVERITIES = ["low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** How a rule's action is carried out. */
export type Enforcement =
  /** the kernel acts before the operation takes effect */
  | "kernel"
  /** Vigil acts in userspace once it sees the event (the operation has happened) */
  | "userspace"
  /** alert: nothing to carry out */
  | "none";

export interface Finding {
  id: string;
  /** Wall-clock ms. */
  ts: number;
  kind: "rule" | "deviation";
  /** `policy/rule` for rule hits, `deviation/<what>` for deviations. */
  rule: string;
  policy?: string;
  action: ActionName;
  severity: Severity;
  agent: string | null;
  pid: number;
  comm: string;
  /** The event that hit the rule (for kernel decisions: the kernel's record). */
  event: VigilEvent;
  enforcement: Enforcement;
  /** With enforcement kernel: what in the kernel acted (Vigil's BPF programs, or a Landlock ruleset Vigil applied). */
  mechanism?: "bpf" | "landlock";
  /** connect: the name the agent's DNS answers gave the destination, if any. */
  domain?: string;
  /** What happened, in words: "connect refused in the kernel (EPERM)", "SIGKILL before the new program ran" ... */
  outcome: string;
  span?: { traceId: string; spanId: string; name: string };
}

export type InterventionKind = "freeze" | "thaw" | "kill-tree" | "kill";

export interface AuditEntry {
  id: string;
  ts: number;
  action: InterventionKind;
  agent: string | null;
  pid?: number;
  /** Who asked: `api`, or `policy:<policy>/<rule>`, or `deviation:<what>`. */
  actor: string;
  reason: string;
  ok: boolean;
  detail: string;
}

/** A record as the pipeline hands it to sinks. */
export type VigilRecord = { kind: "finding"; record: Finding } | { kind: "audit"; record: AuditEntry };
export type RecordKind = VigilRecord["kind"];

let findingSeq = 0;
const boot = Date.now().toString(36);

export function findingId(): string {
  return `f-${boot}-${(++findingSeq).toString(36)}`;
}
