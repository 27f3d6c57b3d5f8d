// The daemon's builder: BuildPaths, BuildPathsWithResults, BuildDerivation
// and EnsurePath build through the same scheduler and sandboxes as `tvix
// build` (builders/session.ts), into the store the daemon serves. Build
// logs go to the client as the build's log lines.
import type { Derivation } from "../core/derivation";
import { BuildStatus, type BuildResult } from "../core/daemon-protocol";
import type { NixStore } from "../stores/types";
import { BuildSession } from "../builders/session";
import { BuildError } from "../builders/build-request";
import type { BuildSettings } from "../builders/settings";
import type { Failure } from "../builders/scheduler";
import type { BuildLog, BuildRequest, Builder } from "./builder";

export interface SessionBuilderOptions {
  store: NixStore;
  settings: BuildSettings;
  logDir: string;
  openStore: (url: string) => Promise<NixStore>;
}

/** Nix's BuildResult status for a failed build. */
function statusOf(f: Failure): number {
  const kind = f.error instanceof BuildError ? f.error.kind : "other";
  switch (kind) {
    case "timeout":
    case "silent":
      return BuildStatus.TimedOut;
    case "hash-mismatch":
    case "rejected":
      return BuildStatus.OutputRejected;
    case "transient":
      return BuildStatus.TransientFailure;
    case "check-mismatch":
      return BuildStatus.NotDeterministic;
    case "dependency":
      return BuildStatus.DependencyFailed;
    case "failed":
      return BuildStatus.PermanentFailure;
    default:
      return BuildStatus.MiscFailure;
  }
}

export function sessionBuilder(o: SessionBuilderOptions): Builder & { close(): Promise<void> } {
  // one session per mode (normal, check), opened on the first build
  const sessions = new Map<boolean, Promise<BuildSession>>();
  // the log of each running build, by .drv path
  const logs = new Map<string, { log: BuildLog; partial: string }>();
  const session = (check: boolean) => {
    let s = sessions.get(check);
    if (s === undefined) {
      s = BuildSession.open({
        store: o.store,
        settings: o.settings,
        logDir: o.logDir,
        check,
        openStore: o.openStore,
        onEvent: (e) => {
          if (e.type !== "build-log") return;
          const l = logs.get(e.drvPath);
          if (!l) return;
          const lines = (l.partial + Buffer.from(e.chunk).toString("utf8")).split("\n");
          l.partial = lines.pop()!;
          for (const line of lines) l.log.line(line);
        },
      });
      sessions.set(check, s);
    }
    return s;
  };
  return {
    async build(req: BuildRequest): Promise<BuildResult> {
      const now = () => Math.floor(Date.now() / 1000);
      const startTime = now();
      const fail = (status: number, errorMsg: string): BuildResult => ({ status, errorMsg, timesBuilt: 0, isNonDeterministic: false, startTime, stopTime: now(), builtOutputs: new Map() });
      if (req.mode === 1) return fail(BuildStatus.MiscFailure, "not implemented: repairing a derivation's outputs by building it again");
      const s = await session(req.mode === 2);
      if ((await o.store.queryPathInfo(req.drvPath)) === null) {
        // BuildDerivation of a derivation the store does not hold: its inputs are valid already
        const d = req.drv;
        const drv: Derivation = { outputs: d.outputs, inputDrvs: new Map(), inputSrcs: d.inputSrcs, system: d.platform, builder: d.builder, args: d.args, env: d.env };
        s.access.provide(req.drvPath, drv);
      }
      logs.set(req.drvPath, { log: req.log, partial: "" });
      try {
        const summary = await s.runAlone([{ drvPath: req.drvPath, outputs: req.outputs ?? [] }], { localOnly: req.localOnly, signal: req.signal });
        if (req.signal?.aborted) return fail(BuildStatus.MiscFailure, `the build of '${req.drvPath}' was interrupted: the client hung up`);
        const f = summary.failures.find((x) => x.drvPath === req.drvPath) ?? summary.failures[0];
        if (f) return fail(statusOf(f), f.error.message);
        const built = summary.built.includes(req.drvPath);
        return {
          status: built ? BuildStatus.Built : summary.substituted.length > 0 ? BuildStatus.Substituted : BuildStatus.AlreadyValid,
          errorMsg: "",
          timesBuilt: built ? 1 : 0,
          isNonDeterministic: false,
          startTime,
          stopTime: now(),
          builtOutputs: new Map(),
        };
      } finally {
        const l = logs.get(req.drvPath);
        if (l?.partial) l.log.line(l.partial);
        logs.delete(req.drvPath);
      }
    },
    async close() {
      for (const s of sessions.values()) await (await s).close();
    },
  };
}
