// One build step on a remote machine, over the worker protocol (ssh-ng://
// runs `nix-daemon --stdio` or `tvix store daemon --stdio` there; unix://
// talks to a daemon socket), as Nix's build hook does it:
//
//   1. QueryValidPaths on the input closure (the machine substitutes what
//      it can first, with builders-use-substitutes);
//   2. the missing paths are copied (AddMultipleToStore, references first);
//   3. BuildDerivation of the derivation, its input sources replaced by the
//      whole input closure when it has input derivations (as Nix sends it);
//      the build's log comes back as it runs;
//   4. the outputs are copied back: each NAR checked against the hash and
//      size the machine reports while it is ingested, references checked to
//      lie in the input closure or the outputs, and only then registered.
//
// A failed build (the BuildResult says so) is the derivation's failure;
// anything else (no connection, the machine vanishing, a refusal, an output
// that does not check out) is the machine's, and the scheduler tries the
// build elsewhere. A connection is held for the whole step; up to max-jobs
// connections per machine stay open for the run.
import type { Derivation } from "../core/derivation";
import { BuildMode, BuildStatus, ResultType, type BasicDerivation, type BuildResult, type ClientSettings, DEFAULT_CLIENT_SETTINGS } from "../core/daemon-protocol";
import { DaemonStore, type DaemonConnection } from "../stores/daemon-client";
import type { CastoreNixStore } from "../stores/castore-store";
import type { NixPathInfo, NixStore, PathInfo } from "../stores/types";
import { BuildError, type BuildErrorKind } from "./build-request";
import type { Machine } from "./machines";
import { machineStoreUrl } from "./machines";
import type { MachineState } from "./dispatch";
import { WireError } from "../core/wire";

/** TVIX_PHASES=build: how long each part of a remote step took, on stderr. */
const phases = process.env.TVIX_PHASES === "build";

/** The machine, not the build, failed: the build goes elsewhere. */
export class MachineFailure extends Error {}

export interface RemoteStep {
  drvPath: string;
  drv: Derivation;
  /** The input closure, with this store's infos. */
  closure: Map<string, PathInfo>;
  local: CastoreNixStore;
  /** Let the machine substitute missing inputs itself. */
  useSubstitutes: boolean;
  onLog(line: string): void;
  /** Paths copied either way ("to" the machine, "from" it). */
  onCopy?(path: string, direction: "to" | "from"): void;
  signal: AbortSignal;
}

/** A BuildResult status that means the build failed (not the machine). */
const BUILD_FAILURES: Partial<Record<number, BuildErrorKind>> = {
  [BuildStatus.PermanentFailure]: "failed",
  [BuildStatus.TimedOut]: "timeout",
  [BuildStatus.OutputRejected]: "rejected",
  [BuildStatus.TransientFailure]: "transient",
  [BuildStatus.NotDeterministic]: "check-mismatch",
  [BuildStatus.DependencyFailed]: "dependency",
  [BuildStatus.LogLimitExceeded]: "failed",
  [BuildStatus.CachedFailure]: "failed",
};

const SUCCESS = new Set<number>([BuildStatus.Built, BuildStatus.Substituted, BuildStatus.AlreadyValid, BuildStatus.ResolvesToAlreadyValid]);

/** A machine of the run: its slots (MachineState), its store, opened on first use. */
export class RemoteMachine implements MachineState {
  inUse = 0;
  down: string | null = null;
  downSince = 0;
  private store: Promise<DaemonStore> | null = null;

  constructor(
    readonly spec: Machine,
    private readonly openStore: (url: string) => Promise<NixStore>,
    private readonly settings: Partial<ClientSettings> = {},
  ) {}

  /** The store URI without parameters, as progress shows it. */
  get name(): string {
    return this.spec.storeUri.replace(/\?.*/, "");
  }

  private connect(): Promise<DaemonStore> {
    if (!this.store) {
      this.store = (async () => {
        const s = await this.openStore(machineStoreUrl(this.spec));
        if (!(s instanceof DaemonStore)) {
          await s.close();
          throw new MachineFailure(`'${this.name}' is not a daemon store`);
        }
        return s;
      })();
      // the next attempt connects again
      this.store.catch(() => (this.store = null));
    }
    return this.store;
  }

  /** Builds on the machine; returns the outputs' infos, registered in the local store. */
  async build(step: RemoteStep): Promise<NixPathInfo[]> {
    let store: DaemonStore;
    try {
      store = await this.connect();
    } catch (e) {
      throw new MachineFailure((e as Error).message);
    }
    let r: { result: BuildResult; outputs: NixPathInfo[] };
    try {
      r = await store.withConnection(async (c) => {
        const onAbort = () => c.close(true);
        if (step.signal.aborted) throw new MachineFailure("the build was abandoned");
        step.signal.addEventListener("abort", onAbort);
        try {
          const t0 = Date.now();
          await this.sendSettings(c);
          await this.copyInputs(c, step);
          const t1 = Date.now();
          const result = await c.buildDerivation(step.drvPath, basicDerivation(step.drv, step.closure), BuildMode.Normal, (m) => {
            if (m.type === "log") step.onLog(m.text);
            else if (m.type === "result" && m.result === ResultType.BuildLogLine && typeof m.fields?.[0] === "string") step.onLog(m.fields[0]);
          });
          const t2 = Date.now();
          const outputs = SUCCESS.has(result.status) ? await this.copyOutputs(c, step) : [];
          if (phases) process.stderr.write(`tvix: ${step.drvPath} on ${this.name}: inputs ${t1 - t0} ms, build ${t2 - t1} ms, outputs back ${Date.now() - t2} ms\n`);
          return { result, outputs };
        } catch (e) {
          if (e instanceof MachineFailure) throw e;
          // what ssh and the remote program said on their way out
          const said = c.diagnostics();
          const ended = e instanceof WireError && /^unexpected end of stream/.test(e.message);
          throw new MachineFailure((ended ? `the connection to '${this.name}' ended unexpectedly` : (e as Error).message) + (said ? `: ${said}` : ""));
        } finally {
          step.signal.removeEventListener("abort", onAbort);
        }
      });
    } catch (e) {
      throw e instanceof MachineFailure ? e : new MachineFailure((e as Error).message);
    }
    if (SUCCESS.has(r.result.status)) {
      this.down = null;
      return r.outputs;
    }
    // the log's tail is ours to show (we have the log)
    const msg = r.result.errorMsg.replace(/;\s*last \d+ log lines:[^]*$/, "") || `the build of '${step.drvPath}' on '${this.name}' failed (status ${r.result.status})`;
    const kind = BUILD_FAILURES[r.result.status];
    // a refusal or an internal failure there (InputRejected, MiscFailure): another machine may do better
    if (!kind) throw new MachineFailure(msg);
    throw new BuildError(msg, kind);
  }

  private settingsSent = new WeakSet<DaemonConnection>();

  private async sendSettings(c: DaemonConnection): Promise<void> {
    if (this.settingsSent.has(c)) return;
    await c.setOptions({ ...DEFAULT_CLIENT_SETTINGS, ...this.settings });
    this.settingsSent.add(c);
  }

  private async copyInputs(c: DaemonConnection, step: RemoteStep): Promise<void> {
    const paths = [...step.closure.keys()].sort();
    const valid = await c.queryValidPaths(paths, step.useSubstitutes);
    const missing = referencesFirst(paths.filter((p) => !valid.has(p)), step.closure);
    if (missing.length === 0) return;
    for (const p of missing) step.onCopy?.(p, "to");
    const infos = missing.map((p) => {
      const { node: _node, ...info } = step.closure.get(p)!;
      return info;
    });
    // as Nix's hook: the machine need not trust our signatures (a trusted user's request)
    await c.addPaths(infos, (i) => step.local.narFromPath(i.storePath), false);
  }

  private async copyOutputs(c: DaemonConnection, step: RemoteStep): Promise<NixPathInfo[]> {
    const outputs = [...step.drv.outputs.values()].map((o) => o.path);
    const infos = new Map<string, NixPathInfo>();
    for (const p of outputs) {
      const info = await c.queryPathInfo(p);
      if (!info) throw new MachineFailure(`'${this.name}' reported a successful build of '${step.drvPath}' but does not hold its output '${p}'`);
      for (const r of info.references)
        if (!step.closure.has(r) && !outputs.includes(r))
          throw new MachineFailure(`output '${p}' built on '${this.name}' refers to '${r}', which is neither an input nor an output of '${step.drvPath}'`);
      infos.set(p, info);
    }
    const out: NixPathInfo[] = [];
    for (const p of referencesFirst(outputs, infos)) {
      const info = infos.get(p)!;
      out.push(info);
      if (await step.local.queryPathInfo(p)) continue;
      step.onCopy?.(p, "from");
      // the NAR is checked against the machine's hash and size while it is
      // ingested; the path becomes valid only after all of it checked out
      await step.local.addToStore({ ...info, ultimate: false, deriver: info.deriver || step.drvPath }, c.narFromPath(p, info, this.name));
    }
    return out;
  }

  async close(): Promise<void> {
    const s = this.store;
    this.store = null;
    if (s) await s.then((x) => x.close(), () => {});
  }
}

/** The derivation as BuildDerivation sends it: with input derivations, the whole input closure as input sources. */
export function basicDerivation(drv: Derivation, closure: Map<string, unknown>): BasicDerivation {
  return {
    outputs: drv.outputs,
    inputSrcs: drv.inputDrvs.size > 0 ? [...closure.keys()].sort() : [...drv.inputSrcs],
    platform: drv.system,
    builder: drv.builder,
    args: drv.args,
    env: drv.env,
  };
}

/** `paths` ordered so that each comes after those of its references that are in the list. */
export function referencesFirst(paths: readonly string[], infos: Map<string, { references: readonly string[] }>): string[] {
  const want = new Set(paths);
  const done = new Set<string>();
  const out: string[] = [];
  const visit = (p: string) => {
    if (done.has(p) || !want.has(p)) return;
    done.add(p);
    for (const r of infos.get(p)?.references ?? []) if (r !== p) visit(r);
    out.push(p);
  };
  for (const p of [...paths].sort()) visit(p);
  return out;
}
