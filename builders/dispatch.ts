// Where each build runs: on this machine (at most max-jobs at once) or on a
// remote machine (at most its max-jobs), following Nix's rules:
//
// - check builds and `preferLocalBuild` derivations this machine can build
//   stay here; `builtin:` builders (fetchurl) always run here;
// - otherwise the free machine that fits (system, supported and mandatory
//   features) with the lowest load / speed factor takes it (ties: the faster
//   machine, then the less loaded one);
// - when every fitting machine is busy, a free local slot takes it, else it
//   waits for whichever frees first;
// - with no local slots (-j 0), a build no machine can take fails, unless
//   `fallback` is set and every machine that fits has failed: then it is
//   built here (one at a time).
//
// A machine that failed (it could not be reached, vanished mid-build, or
// refused the job) takes no builds for a minute (RETRY_MS); then it is
// tried again.
import { DerivationBuildError } from "../glue/build-request";
import { type Machine, machineFits, describeMachine } from "./machines";

export interface Need {
  drvPath: string;
  system: string;
  features: readonly string[];
  /** preferLocalBuild, or a check build: here when this machine can. */
  local: boolean;
  builtin: boolean;
}

/** A machine's share of the run: how many of its slots are taken, and whether it failed. */
export interface MachineState {
  readonly spec: Machine;
  inUse: number;
  /** Why it takes no builds for now. */
  down: string | null;
  /** When it failed (Date.now()). */
  downSince: number;
}

/** How long a machine that failed is left alone. */
export const RETRY_MS = 60_000;

export function isUp(m: MachineState, now = Date.now()): boolean {
  return m.down === null || now - m.downSince >= RETRY_MS;
}

export type Slot = { where: "local"; counted: boolean } | { where: "remote"; machine: MachineState };

export class Stopped extends Error {}

interface Waiter {
  need: Need;
  resolve(s: Slot): void;
  reject(e: Error): void;
}

export interface DispatchOptions {
  localJobs: number;
  localSystems: readonly string[];
  localFeatures: readonly string[];
  machines: MachineState[];
  fallback: boolean;
}

export class Dispatcher {
  private localInUse = 0;
  private waiters: Waiter[] = [];
  private stopped = false;

  constructor(private readonly o: DispatchOptions) {}

  get machines(): readonly MachineState[] {
    return this.o.machines;
  }

  /** A slot for the build: resolves when it may start; rejects when nothing can ever take it. */
  acquire(need: Need): Promise<Slot> {
    if (this.stopped) return Promise.reject(new Stopped());
    return new Promise<Slot>((resolve, reject) => {
      this.waiters.push({ need, resolve, reject });
      this.pump();
    });
  }

  release(slot: Slot): void {
    if (slot.where === "local") {
      if (slot.counted) this.localInUse--;
    } else slot.machine.inUse--;
    this.pump();
  }

  /** The machine takes no more builds (its running ones end on their own). */
  markDown(m: MachineState, reason: string): void {
    m.down = reason;
    m.downSince = Date.now();
    this.pump();
  }

  /** Every waiting build is rejected with Stopped (the run is ending). */
  stop(): void {
    this.stopped = true;
    for (const w of this.waiters.splice(0)) w.reject(new Stopped());
  }

  private localFits(need: Need): boolean {
    return need.builtin || (this.o.localSystems.includes(need.system) && need.features.every((f) => this.o.localFeatures.includes(f)));
  }

  /** Tries to place each waiting build, in order. */
  private pump(): void {
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      let r: Slot | "wait";
      try {
        r = this.place(w.need);
      } catch (e) {
        w.reject(e as Error);
        continue;
      }
      if (r === "wait") keep.push(w);
      else w.resolve(r);
    }
    this.waiters = keep;
  }

  private place(need: Need): Slot | "wait" {
    const jobs = this.o.localJobs;
    if (need.builtin) {
      // not a sandboxed build: with -j 0 it runs here anyway
      if (jobs === 0) return { where: "local", counted: false };
      return this.takeLocal(jobs);
    }
    const fitting = this.o.machines.filter((m) => machineFits(m.spec, need.system, need.features));
    const now = Date.now();
    const up = fitting.filter((m) => isUp(m, now));
    if (need.local && jobs > 0 && this.localFits(need)) return this.takeLocal(jobs);

    let best: MachineState | null = null;
    for (const m of up) {
      if (m.inUse >= m.spec.maxJobs) continue;
      if (!best) {
        best = m;
        continue;
      }
      const lm = m.inUse / m.spec.speedFactor;
      const lb = best.inUse / best.spec.speedFactor;
      if (lm < lb || (lm === lb && (m.spec.speedFactor > best.spec.speedFactor || (m.spec.speedFactor === best.spec.speedFactor && m.inUse < best.inUse)))) best = m;
    }
    if (best) {
      best.inUse++;
      return { where: "remote", machine: best };
    }

    // here: with local slots when this machine fits (or nothing else does:
    // the sandbox then says why it cannot); with -j 0 only as a fallback
    // once every fitting machine has failed
    const capacity = jobs > 0 ? jobs : this.o.fallback && up.length === 0 && fitting.length > 0 ? 1 : 0;
    const localOk = capacity > 0 && (this.localFits(need) || up.length === 0);
    if (localOk && this.localInUse < capacity) return this.takeLocal(capacity);
    if (localOk || up.some((m) => m.spec.maxJobs > 0)) return "wait";
    throw new DerivationBuildError(this.noMachine(need, fitting));
  }

  private takeLocal(capacity: number): Slot | "wait" {
    if (this.localInUse >= capacity) return "wait";
    this.localInUse++;
    return { where: "local", counted: true };
  }

  private noMachine(need: Need, fitting: MachineState[]): string {
    const wants = `a '${need.system}' machine${need.features.length ? ` with features ${need.features.map((f) => `'${f}'`).join(", ")}` : ""}`;
    if (this.o.machines.length === 0) return `unable to start any build; either increase '--max-jobs' or enable remote builds (building '${need.drvPath}')`;
    if (fitting.length > 0)
      return (
        `cannot build '${need.drvPath}': every machine that could has failed (${fitting.map((m) => `${m.spec.storeUri.replace(/\?.*/, "")}: ${m.down}`).join("; ")}), ` +
        `and local builds are off (--max-jobs 0; --fallback builds here then)`
      );
    return `cannot build '${need.drvPath}': it needs ${wants}; no remote machine fits (${this.o.machines.map((m) => describeMachine(m.spec)).join("; ")}) and local builds are off (--max-jobs 0)`;
  }
}
