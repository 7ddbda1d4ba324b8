/**
 * The experiment format (after the Principles of Chaos and Chaos Toolkit):
 * a steady-state hypothesis made of probes, checked before the fault (a
 * gate: a system not in steady state is not experimented on) and after it;
 * a method (the fault, with its measurements); rollbacks that always run.
 * The journal records status (completed | failed | aborted) and whether the
 * system deviated from its steady state.
 */

export interface ProbeResult {
  name: string;
  ok: boolean;
  value: unknown;
}

export interface ExperimentContext {
  quick: boolean;
  /** A scratch directory of this experiment, removed afterwards. */
  dir: string;
  /** Measurements recorded by the method and the probes. */
  measure(name: string, value: number | string | boolean): void;
  /** Register a rollback; all run (last first) whatever happened. */
  onRollback(name: string, fn: () => Promise<void> | void): void;
}

export interface Experiment {
  name: string;
  title: string;
  /** The hypothesis in words, as the journal shows it. */
  hypothesis: string;
  /** Brings the system up for this experiment (part of the method's preparation). */
  setup(ctx: ExperimentContext): Promise<void>;
  steadyState(ctx: ExperimentContext, phase: "before" | "after"): Promise<ProbeResult[]>;
  method(ctx: ExperimentContext): Promise<void>;
}

export interface JournalEntry {
  name: string;
  title: string;
  hypothesis: string;
  status: "completed" | "failed" | "aborted";
  deviated: boolean;
  startedAt: string;
  durationMs: number;
  steadyStateBefore: ProbeResult[];
  steadyStateAfter: ProbeResult[];
  measurements: Record<string, number | string | boolean>;
  rollbacks: { name: string; ok: boolean; error?: string }[];
  error?: string;
}

export const probe = (name: string, ok: boolean, value: unknown): ProbeResult => ({ name, ok, value });
