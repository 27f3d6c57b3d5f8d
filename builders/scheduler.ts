// The scheduler: realises derivation outputs as Nix's worker does. It walks
// the derivation graph from the requested outputs down, and for each output
// that is not valid yet decides, before doing anything: substitute it from
// a configured cache (its whole closure there, signed by a trusted key or
// content-addressed), or build its derivation, which needs that
// derivation's inputs in turn. Then it runs the plan: substitutions and
// builds in dependency order, each build's log kept; a failure stops
// everything unless keepGoing. Where each build runs (here, at most `jobs`
// at a time, or on a remote machine) is the dispatcher's choice
// (dispatch.ts); a machine that fails hands its build back, and it runs
// elsewhere (remote.ts).
import { renameSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { Derivation } from "../core/derivation";
import { isFixedOutput } from "../core/derivation";
import type { PublicKey } from "../core/signing";
import { checkTrusted } from "../stores/path-trust";
import { computeClosure, copyPaths } from "../stores/copy";
import { BinaryCacheStore } from "../stores/binary-cache";
import type { NixPathInfo, NixStore, PathInfo } from "../stores/types";
import { BuildError, type BuildService } from "./build-request";
import { buildRequestFor, inputRoots, DerivationBuildError, boolAttr, requiredFeatures } from "../glue/build-request";
import { checkOutputs, registerOutputs } from "./realise";
import { LogStore, BuildLog } from "./logs";
import { StoreAccess } from "./store-access";
import { Dispatcher, Stopped, type Need, type Slot } from "./dispatch";
import { MachineFailure, type RemoteMachine } from "./remote";

export interface Target {
  drvPath: string;
  /** Outputs wanted; empty means all. */
  outputs: string[];
}

export type SchedulerEvent =
  | { type: "plan"; builds: string[]; substitutions: { path: string; from: string; narSize: number; downloadSize?: number }[] }
  | { type: "build-start"; drvPath: string; builder: string; /** The remote machine building it (its store URI), if not this one. */ machine?: string }
  | { type: "build-log"; drvPath: string; chunk: Uint8Array; log: BuildLog }
  | { type: "build-done"; drvPath: string; outputs: string[] }
  | { type: "build-failed"; drvPath: string; error: Error; logTail: string[] }
  | { type: "subst-start"; path: string; from: string; narSize: number }
  | { type: "subst-progress"; path: string; bytes: number }
  | { type: "subst-done"; path: string }
  | { type: "copy"; path: string; machine: string; direction: "to" | "from" }
  | { type: "warning"; message: string };

export interface SchedulerOptions {
  access: StoreAccess;
  sandbox: BuildService;
  /** Runs `builtin:` builders (builtin:fetchurl). */
  builtins: BuildService;
  substituters?: NixStore[];
  trustedKeys?: PublicKey[];
  /** Substitutes must be signed by a trusted key or be content-addressed (default true). */
  requireSigs?: boolean;
  jobs?: number;
  cores?: number;
  keepGoing?: boolean;
  timeout?: number;
  maxSilentTime?: number;
  /** Rebuild the targets' derivations and compare with the registered outputs. */
  check?: boolean;
  keepFailed?: boolean;
  logs?: LogStore;
  sandboxPaths?: [string, string][];
  hostEnv?: Record<string, string | undefined>;
  onEvent?: (e: SchedulerEvent) => void;
  /** Remote build machines (shared by the runs of a session). */
  machines?: RemoteMachine[];
  /** With no local jobs, build here once every machine that could has failed. */
  fallback?: boolean;
  /** Remote machines substitute missing inputs themselves. */
  buildersUseSubstitutes?: boolean;
  /** Stops the run: running builds are killed, nothing more starts (the daemon's client went away). */
  signal?: AbortSignal;
  /** Runs after each build's outputs are registered (the post-build upload); a failure fails the build. */
  afterBuild?: (drvPath: string, outputs: string[]) => Promise<void>;
  /**
   * Writes a build's outputs depend on (the evaluation's last .drv files,
   * still being committed while the first builds run): outputs are
   * registered, and remote builds (which copy the .drv) start, only once
   * this resolves; a failure fails the build.
   */
  registerAfter?: Promise<unknown>;
}

export interface Failure {
  drvPath: string;
  error: Error;
  logTail: string[];
}

export interface RunSummary {
  built: string[];
  substituted: string[];
  failures: Failure[];
  /** Nix's exit status for the failures (0 when none). */
  exitStatus: number;
}

export interface Plan {
  /** Derivations to build, dependencies first. */
  builds: string[];
  /** Paths to copy from a substituter (closures included). */
  substitutions: Map<string, { from: NixStore; info: NixPathInfo; downloadSize?: number }>;
}

/** A derivation's output path, or a clear error. */
export function outputPath(drv: Derivation, drvPath: string, output: string): string {
  const o = drv.outputs.get(output);
  if (!o) throw new DerivationBuildError(`derivation '${drvPath}' does not have an output named '${output}'`);
  if (!o.path) throw new DerivationBuildError(`not implemented: output '${output}' of '${drvPath}' has no path (content-addressed derivations)`);
  return o.path;
}

class Cancelled extends Error {}

class DependencyFailed extends Error {}

export class Scheduler {
  private readonly access: StoreAccess;
  private readonly store: StoreAccess["store"];
  private readonly jobs: number;
  private readonly dispatch: Dispatcher;
  private readonly abort = new AbortController();
  private stopping = false;
  private readonly failures: Failure[] = [];
  private readonly built: string[] = [];
  private readonly substituted: string[] = [];
  private readonly emit: (e: SchedulerEvent) => void;

  constructor(private readonly opts: SchedulerOptions) {
    this.access = opts.access;
    this.store = opts.access.store;
    this.jobs = Math.max(0, opts.jobs ?? 1);
    this.dispatch = new Dispatcher({
      localJobs: this.jobs,
      localSystems: opts.sandbox.systems,
      localFeatures: opts.sandbox.systemFeatures,
      machines: opts.machines ?? [],
      fallback: !!opts.fallback,
    });
    this.emit = opts.onEvent ?? (() => {});
    const stop = () => {
      this.stopping = true;
      this.abort.abort();
      this.dispatch.stop();
    };
    if (opts.signal?.aborted) stop();
    else opts.signal?.addEventListener("abort", stop, { once: true });
  }

  // ------------------------------------------------------------ planning

  /** Decides for every needed output whether it is valid, substituted or built. */
  async plan(targets: Target[]): Promise<Plan> {
    const builds = new Set<string>();
    const order: string[] = [];
    const substitutions: Plan["substitutions"] = new Map();
    const decided = new Map<string, Promise<void>>();
    const checkTargets = new Set(this.opts.check ? targets.map((t) => t.drvPath) : []);

    const substitutable = async (path: string): Promise<boolean> => {
      if (substitutions.has(path)) return true;
      for (const sub of this.opts.substituters ?? []) {
        let closure: Map<string, NixPathInfo>;
        try {
          if (!(await sub.queryPathInfo(path))) continue;
          closure = await computeClosure(sub, [path]);
        } catch {
          continue;
        }
        const missing: NixPathInfo[] = [];
        for (const [p, info] of closure) if (!(await this.store.queryPathInfo(p))) missing.push(info);
        if (this.opts.requireSigs !== false) {
          try {
            for (const info of missing) checkTrusted(info, this.opts.trustedKeys ?? [], this.store.storeDir, sub.url);
          } catch (e) {
            this.emit({ type: "warning", message: `substituter '${sub.url}' does not have a valid signature for '${path}': ${(e as Error).message}` });
            continue;
          }
        }
        for (const info of missing) {
          let downloadSize: number | undefined;
          if (sub instanceof BinaryCacheStore) downloadSize = (await sub.getNarInfo(info.storePath))?.fileSize;
          substitutions.set(info.storePath, { from: sub, info, downloadSize });
        }
        return true;
      }
      return false;
    };

    const needPath = async (path: string, viaDrv: string | null): Promise<void> => {
      if (await this.store.queryPathInfo(path)) return;
      if (await substitutable(path)) return;
      if (await this.access.importSourceFromDisk(path)) return;
      throw new DerivationBuildError(
        viaDrv ? `path '${path}' is required by '${viaDrv}', but it is not valid and no substituter has it` : `path '${path}' is not valid and no substituter has it`,
      );
    };

    const decideDrv = (drvPath: string): Promise<void> => {
      let p = decided.get(drvPath);
      if (p) return p;
      p = (async () => {
        const drv = await this.access.derivation(drvPath);
        builds.add(drvPath);
        await Promise.all([
          ...[...drv.inputDrvs].flatMap(([d, outs]) => outs.map((o) => decideOutput(d, o, false))),
          ...drv.inputSrcs.map((s) => needPath(s, drvPath)),
        ]);
        order.push(drvPath);
      })();
      decided.set(drvPath, p);
      return p;
    };

    const decideOutput = async (drvPath: string, output: string, top: boolean): Promise<void> => {
      const drv = await this.access.derivation(drvPath);
      const path = outputPath(drv, drvPath, output);
      if (top && checkTargets.has(drvPath)) {
        if (!(await this.store.queryPathInfo(path))) throw new DerivationBuildError(`some outputs of '${drvPath}' are not valid, so checking is not possible`);
        return decideDrv(drvPath);
      }
      if (await this.store.queryPathInfo(path)) return;
      if (!builds.has(drvPath) && (await substitutable(path))) return;
      return decideDrv(drvPath);
    };

    for (const t of targets) {
      const drv = await this.access.derivation(t.drvPath);
      const outs = t.outputs.length ? t.outputs : [...drv.outputs.keys()];
      await Promise.all(outs.map((o) => decideOutput(t.drvPath, o, true)));
    }
    return { builds: order.filter((d) => builds.has(d)), substitutions };
  }

  // ------------------------------------------------------------ running

  /** Plans and realises the targets. */
  async run(targets: Target[], plan?: Plan): Promise<RunSummary> {
    plan ??= await this.plan(targets);
    this.emit({
      type: "plan",
      builds: plan.builds,
      substitutions: [...plan.substitutions].map(([path, s]) => ({ path, from: s.from.url, narSize: s.info.narSize, downloadSize: s.downloadSize })),
    });
    if (plan.builds.length > 0 && this.jobs === 0 && (this.opts.machines ?? []).length === 0)
      throw new DerivationBuildError(`unable to start any build; either increase '--max-jobs' or enable remote builds`);
    const buildSet = new Set(plan.builds);
    const substDone = new Map<string, Promise<void>>();
    const buildDone = new Map<string, Promise<void>>();
    const outputsOf = new Map<string, string>(); // output path -> drv building it
    for (const d of plan.builds) for (const o of (await this.access.derivation(d)).outputs.values()) outputsOf.set(o.path, d);

    const substitute = (path: string): Promise<void> => {
      let p = substDone.get(path);
      if (p) return p;
      p = (async () => {
        const s = plan!.substitutions.get(path)!;
        // references first (each from the plan, or already valid)
        await Promise.all(s.info.references.filter((r) => r !== path && plan!.substitutions.has(r)).map(substitute));
        if (this.stopping) throw new Cancelled();
        this.emit({ type: "subst-start", path, from: s.from.url, narSize: s.info.narSize });
        try {
          await copyPaths(s.from, this.store, [path], {
            recursive: false,
            trustedKeys: this.opts.requireSigs === false ? undefined : this.opts.trustedKeys ?? [],
            onEvent: (e) => e.type === "progress" && this.emit({ type: "subst-progress", path, bytes: e.bytes }),
          });
        } catch (e) {
          this.fail({ drvPath: path, error: new Error(`cannot substitute '${path}' from '${s.from.url}': ${(e as Error).message}`), logTail: [] });
          throw new DependencyFailed();
        }
        this.substituted.push(path);
        this.emit({ type: "subst-done", path });
      })();
      substDone.set(path, p);
      return p;
    };

    const realisePath = (path: string): Promise<void> => {
      if (plan!.substitutions.has(path)) return substitute(path);
      const d = outputsOf.get(path);
      if (d) return build(d);
      return Promise.resolve();
    };

    const build = (drvPath: string): Promise<void> => {
      let p = buildDone.get(drvPath);
      if (p) return p;
      p = (async () => {
        const drv = await this.access.derivation(drvPath);
        const roots = inputRoots(drv, (d, o) => outputPathSync(this.access, d, o));
        const deps = await Promise.allSettled(roots.map(realisePath));
        const failed = deps.filter((r) => r.status === "rejected");
        if (failed.length > 0) {
          if (failed.some((r) => !((r as PromiseRejectedResult).reason instanceof Cancelled)) && !this.stopping)
            this.fail({ drvPath, error: new BuildError(`${failed.length} dependencies of derivation '${drvPath}' failed to build`, "dependency"), logTail: [] });
          throw new DependencyFailed();
        }
        const outputs = await this.buildSomewhere(drvPath, drv, roots);
        if (outputs && this.opts.afterBuild) {
          try {
            await this.opts.afterBuild(drvPath, outputs);
          } catch (e) {
            this.fail({ drvPath, error: new Error(`post-build upload of the outputs of '${drvPath}' failed: ${(e as Error).message}`), logTail: [] });
            throw new DependencyFailed();
          }
        }
      })();
      buildDone.set(drvPath, p);
      return p;
    };

    // every planned build and substitution runs; targets wait for theirs
    const all = [...plan.builds.map(build), ...[...plan.substitutions.keys()].map(substitute)];
    await Promise.allSettled(all);
    const real = this.failures.filter((f) => !isKind(f.error, "dependency") || this.opts.keepGoing);
    return { built: this.built, substituted: this.substituted, failures: real, exitStatus: exitStatusOf(this.failures) };
  }

  private fail(f: Failure): void {
    this.failures.push(f);
    if (!isKind(f.error, "dependency")) this.emit({ type: "build-failed", drvPath: f.drvPath, error: f.error, logTail: f.logTail });
    if (!this.opts.keepGoing && !this.stopping) {
      this.stopping = true;
      this.abort.abort();
      this.dispatch.stop();
    }
  }

  /** What the dispatcher needs to place a build. */
  private needOf(drvPath: string, drv: Derivation): Need {
    return {
      drvPath,
      system: drv.system,
      features: requiredFeatures(drv),
      local: !!this.opts.check || boolAttr(drv, "preferLocalBuild"),
      builtin: drv.builder.startsWith("builtin:"),
    };
  }

  /**
   * Builds a derivation whose inputs are valid, here or on a machine (a
   * machine that fails hands the build back to the dispatcher). Returns the
   * output paths registered (null when checking).
   */
  private async buildSomewhere(drvPath: string, drv: Derivation, roots: string[]): Promise<string[] | null> {
    const need = this.needOf(drvPath, drv);
    for (;;) {
      let slot: Slot;
      try {
        slot = await this.dispatch.acquire(need);
      } catch (e) {
        if (e instanceof Stopped || this.stopping) throw new Cancelled();
        this.fail({ drvPath, error: e as Error, logTail: [] });
        throw new DependencyFailed();
      }
      try {
        if (this.stopping) throw new Cancelled();
        if (slot.where === "local") return await this.buildOne(drvPath, drv, roots);
        const machine = slot.machine as RemoteMachine;
        await this.opts.registerAfter;
        try {
          return await this.buildRemote(drvPath, drv, roots, machine);
        } catch (e) {
          if (!(e instanceof MachineFailure)) throw e;
          if (this.stopping) throw new Cancelled();
          this.emit({ type: "warning", message: `cannot build '${drvPath}' on '${machine.name}': ${e.message}; no builds go there for a minute` });
          this.dispatch.markDown(machine, e.message.split("\n")[0]);
        }
      } finally {
        this.dispatch.release(slot);
      }
    }
  }

  /** Builds on a remote machine (remote.ts): inputs there, the build, outputs back. */
  private async buildRemote(drvPath: string, drv: Derivation, roots: string[], machine: RemoteMachine): Promise<string[]> {
    const log = this.opts.logs ? this.opts.logs.open(drvPath) : new BuildLog(null);
    this.emit({ type: "build-start", drvPath, builder: "remote", machine: machine.name });
    try {
      const closure = await this.access.closure(roots);
      const enc = new TextEncoder();
      const infos = await machine.build({
        drvPath,
        drv,
        closure,
        local: this.store,
        useSubstitutes: !!this.opts.buildersUseSubstitutes,
        signal: this.abort.signal,
        onLog: (line) => {
          const chunk = enc.encode(line + "\n");
          log.write(chunk);
          this.emit({ type: "build-log", drvPath, chunk, log });
        },
        onCopy: (path, direction) => this.emit({ type: "copy", path, machine: machine.name, direction }),
      });
      this.built.push(drvPath);
      const outputs = infos.map((i) => i.storePath);
      this.emit({ type: "build-done", drvPath, outputs });
      return outputs;
    } catch (e) {
      if (e instanceof MachineFailure) throw e;
      if (this.stopping && isKind(e, "interrupted")) throw new Cancelled();
      this.fail({ drvPath, error: describeFailure(e as Error, drvPath, drv), logTail: log.lastLines() });
      throw new DependencyFailed();
    } finally {
      log.close();
    }
  }

  /** Builds one derivation here; registers its outputs (or compares them, with check, and returns null). */
  private async buildOne(drvPath: string, drv: Derivation, roots: string[]): Promise<string[] | null> {
    const log = this.opts.logs ? this.opts.logs.open(drvPath) : new BuildLog(null);
    const service = drv.builder.startsWith("builtin:") ? this.opts.builtins : this.opts.sandbox;
    this.emit({ type: "build-start", drvPath, builder: service.name });
    const checking = !!this.opts.check && (await this.allValid(drv));
    try {
      const closure = await this.access.closure(roots);
      const req = buildRequestFor(drv, drvPath, {
        storeDir: this.store.storeDir,
        closure: new Map([...closure].map(([p, info]) => [p, { info, node: info.node }])),
        cores: this.opts.cores ?? 1,
        hostEnv: this.opts.hostEnv,
        sandboxPaths: this.opts.sandboxPaths,
      });
      if (drv.builder.startsWith("builtin:")) req.constraints.system = "builtin";
      const byHashPart = new Map<string, string>();
      for (const p of [...closure.keys(), ...[...drv.outputs.values()].map((o) => o.path)]) byHashPart.set(p.slice(this.store.storeDir.length + 1, this.store.storeDir.length + 33), p);
      const t0 = Date.now();
      const result = await service.build(
        req,
        {
          onLog: (chunk) => {
            log.write(chunk);
            this.emit({ type: "build-log", drvPath, chunk, log });
          },
        },
        { timeout: this.opts.timeout, maxSilentTime: this.opts.maxSilentTime, signal: this.abort.signal, keepFailed: this.opts.keepFailed },
      );
      try {
        const t1 = Date.now();
        const infos = await checkOutputs({ store: this.store, drv, drvPath, needlePaths: req.refscanNeedles.map((n) => byHashPart.get(n)!) }, result.outputs);
        if (checking) await this.compare(drvPath, infos);
        else {
          await this.opts.registerAfter;
          await registerOutputs(this.store, infos);
          this.placeOutputs(infos, result.outputs.map((o) => o.hostPath));
        }
        if (process.env.TVIX_PHASES === "build") process.stderr.write(`tvix: ${drvPath}: sandbox and ingest ${t1 - t0} ms, checks and registration ${Date.now() - t1} ms\n`);
        this.built.push(drvPath);
        const outputs = [...infos.values()].map((i) => i.storePath);
        this.emit({ type: "build-done", drvPath, outputs });
        return checking ? null : outputs;
      } finally {
        await result.release();
      }
    } catch (e) {
      // killed because another build failed
      if (this.stopping && isKind(e, "interrupted")) throw new Cancelled();
      this.fail({ drvPath, error: describeFailure(e as Error, drvPath, drv), logTail: log.lastLines() });
      throw new DependencyFailed();
    } finally {
      log.close();
    }
  }

  private async allValid(drv: Derivation): Promise<boolean> {
    for (const o of drv.outputs.values()) if (!(await this.store.queryPathInfo(o.path))) return false;
    return true;
  }

  /** --check: the rebuilt outputs must equal the registered ones. */
  private async compare(drvPath: string, infos: Map<string, PathInfo>): Promise<void> {
    for (const info of infos.values()) {
      const old = await this.store.queryPathInfo(info.storePath);
      if (old && old.narHash !== info.narHash)
        throw new BuildError(`derivation '${drvPath}' may not be deterministic: output '${info.storePath}' differs`, "check-mismatch");
    }
  }

  /** Moves freshly built trees into the real store directory (where they are not already). */
  private placeOutputs(infos: Map<string, PathInfo>, hostPaths: string[]): void {
    for (const info of infos.values()) {
      const base = info.storePath.slice(this.store.storeDir.length + 1);
      const host = hostPaths.find((h) => h.endsWith("/" + base));
      const target = join(this.access.realStoreDir, base);
      if (!host || existsSync(target)) continue;
      try {
        renameSync(host, target);
      } catch {
        // another file system: materialised from castore when needed
      }
    }
  }
}

/** The output path of a derivation that StoreAccess has loaded already (the planner loaded every input). */
function outputPathSync(access: StoreAccess, drvPath: string, output: string): string {
  return outputPath(access.loaded(drvPath), drvPath, output);
}

/** Rewords a sandbox error the way Nix reports it. */
function describeFailure(e: Error, drvPath: string, drv: Derivation): Error {
  if (!(e instanceof BuildError)) return new Error(`while building '${drvPath}': ${e?.message ?? String(e)}`);
  const builderFailed = /^builder failed with (.*)$/.exec(e.message);
  if (builderFailed) return new BuildError(`builder for '${drvPath}' failed with ${builderFailed[1]}`, isFixedOutput(drv) ? "transient" : "failed");
  if (e.kind === "timeout" || e.kind === "silent") return new BuildError(`building of '${drvPath}!out' from .drv file ${e.message}`, e.kind);
  if (/^builder failed to produce/.test(e.message)) return new BuildError(`builder for '${drvPath}' ${e.message.replace(/^builder /, "")}`, e.kind);
  return e;
}

const isKind = (e: unknown, kind: BuildError["kind"]) => e instanceof BuildError && e.kind === kind;

/** Nix's exit status: 100 | 1 timeout | 2 hash mismatch | 4 check mismatch..., else 1. */
export function exitStatusOf(failures: Failure[]): number {
  if (failures.length === 0) return 0;
  const kinds = new Set(failures.map((f) => (f.error instanceof BuildError ? f.error.kind : "other")));
  const timedOut = kinds.has("timeout") || kinds.has("silent");
  const hashMismatch = kinds.has("hash-mismatch");
  const permanent = kinds.has("failed");
  let mask = 0;
  if (permanent || timedOut || hashMismatch) mask |= 0x04;
  if (timedOut) mask |= 0x01;
  if (hashMismatch) mask |= 0x02;
  if (kinds.has("check-mismatch")) mask |= 0x08;
  return mask ? mask | 0x60 : 1;
}

