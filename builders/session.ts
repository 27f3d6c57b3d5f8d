// One realisation run, as `tvix build` does it: the local castore store,
// the chosen sandbox, the substituters, the remote machines (`builders`),
// the post-build upload, the scheduler, and at the end the requested
// outputs' closures written out under the real store directory (so that
// ./result runs).
import { accessSync, constants, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { NixStore } from "../stores/types";
import { CastoreNixStore } from "../stores/castore-store";
import { parsePublicKey } from "../core/signing";
import type { BuildService } from "./build-request";
import { BwrapBuildService, startBwrapHelper } from "./bwrap";
import { RuncBuildService } from "./runc";
import { FetchurlBuildService } from "./fetchurl";
import { LogStore } from "./logs";
import { Scheduler, type Plan, type RunSummary, type SchedulerEvent, type SchedulerOptions, type Target } from "./scheduler";
import type { BuildSettings } from "./settings";
import { StoreAccess } from "./store-access";
import { initBlake3x4 } from "../stores/blake3x4";
import { settleRemovals } from "./sandbox";
import { forgetTemplates } from "./sandbox-layout";
import { releaseSpawners } from "./spawner";
import { hostSystem } from "./sandbox";
import { parseMachines } from "./machines";
import { RemoteMachine } from "./remote";
import { Uploader } from "./upload";

export interface SessionOptions {
  store: NixStore;
  settings: BuildSettings;
  /** Where logs live ($TVIX_HOME/log). */
  logDir: string;
  check?: boolean;
  keepFailed?: boolean;
  onEvent?: (e: SchedulerEvent) => void;
  /** Opens a substituter URL (stores/url.ts openStore). */
  openStore: (url: string) => Promise<NixStore>;
  /** See SchedulerOptions.registerAfter. */
  registerAfter?: Promise<unknown>;
}

/** The builds' scratch space (TVIX_BUILD_TMPDIR, else the sandbox's default). */
const buildTmpDir = (): string | undefined => process.env.TVIX_BUILD_TMPDIR || undefined;

export class BuildSession {
  /**
   * Starts what the sandbox of a session with these settings runs its
   * builds from (bwrap's helper), ahead of opening the session: for a
   * caller that is about to wait on something else (the evaluation's
   * writes). A session that is not opened after all: releaseSandbox().
   */
  static startSandbox(settings: BuildSettings): void {
    if (settings.sandbox !== "runc") startBwrapHelper({ tmpDir: buildTmpDir() });
  }

  static releaseSandbox(): void {
    releaseSpawners();
  }

  readonly access: StoreAccess;
  readonly scheduler: Scheduler;
  private readonly substituters: NixStore[];

  private constructor(
    access: StoreAccess,
    private readonly options: SchedulerOptions,
    substituters: NixStore[],
    private readonly machines: RemoteMachine[],
    private readonly uploader: Uploader | null,
  ) {
    this.access = access;
    this.scheduler = new Scheduler(options);
    this.substituters = substituters;
  }

  static async open(o: SessionOptions): Promise<BuildSession> {
    if (!(o.store instanceof CastoreNixStore)) throw new Error(`not implemented: building into '${o.store.url}' (builds need a castore-backed store: local:// or memory://)`);
    if (o.settings.sandboxMode === "false") throw new Error("not implemented: building without a sandbox ('sandbox = false'); use 'sandbox = true' (bwrap or runc)");
    const realStoreDir = o.settings.realStoreDir ?? o.store.storeDir;
    mkdirSync(realStoreDir, { recursive: true });
    try {
      accessSync(realStoreDir, constants.W_OK);
    } catch {
      throw new Error(`cannot write to the store directory '${realStoreDir}' (set 'real-store-dir' to a writable directory)`);
    }
    const access = new StoreAccess(o.store, realStoreDir);
    // ingesting outputs needs the hashing kernels: compile them while the first build runs
    void initBlake3x4().catch(() => {});
    const tmpDir = buildTmpDir();
    const sandboxOpts = { services: o.store, provideInput: (i: { name: string }) => access.materialise(join(o.store.storeDir, i.name)), tmpDir };
    const sandbox: BuildService = o.settings.sandbox === "runc" ? new RuncBuildService(sandboxOpts) : new BwrapBuildService(sandboxOpts);
    const substituters: NixStore[] = [];
    for (const url of o.settings.substituters) {
      try {
        substituters.push(await o.openStore(url));
      } catch (e) {
        // as Nix: a substituter that cannot be reached (down, a timeout) is skipped with a warning; builds go on
        o.onEvent?.({ type: "warning", message: `${(e as Error).message}; skipping the substituter '${url}'` });
      }
    }
    // the machines connect when they get their first build
    const machines = parseMachines(o.settings.builders, hostSystem()).map(
      (m) => new RemoteMachine(m, o.openStore, { maxSilentTime: o.settings.maxSilentTime, buildCores: o.settings.cores, overrides: o.settings.timeout ? new Map([["timeout", String(o.settings.timeout)]]) : new Map() }),
    );
    let uploader: Uploader | null = null;
    if (o.settings.postBuildUpload) {
      try {
        uploader = new Uploader(access, await o.openStore(o.settings.postBuildUpload));
      } catch (e) {
        await Promise.allSettled(substituters.map((s) => s.close()));
        throw new Error(`cannot open the post-build upload store: ${(e as Error).message}`);
      }
    }
    const options: SchedulerOptions = {
      access,
      sandbox,
      builtins: new FetchurlBuildService(o.store, tmpDir),
      substituters,
      trustedKeys: o.settings.trustedPublicKeys.map(parsePublicKey),
      requireSigs: o.settings.requireSigs,
      jobs: o.settings.maxJobs,
      cores: o.settings.cores,
      keepGoing: o.settings.keepGoing,
      timeout: o.settings.timeout,
      maxSilentTime: o.settings.maxSilentTime,
      check: o.check,
      keepFailed: o.keepFailed,
      logs: new LogStore(o.logDir),
      sandboxPaths: o.settings.sandboxPaths,
      hostEnv: process.env,
      onEvent: o.onEvent,
      machines,
      fallback: o.settings.fallback,
      buildersUseSubstitutes: o.settings.buildersUseSubstitutes,
      afterBuild: uploader ? (_drv, outputs) => uploader!.upload(outputs) : undefined,
      registerAfter: o.registerAfter,
    };
    return new BuildSession(access, options, substituters, machines, uploader);
  }

  plan(targets: Target[]): Promise<Plan> {
    return this.scheduler.plan(targets);
  }

  run(targets: Target[], plan?: Plan): Promise<RunSummary> {
    return this.scheduler.run(targets, plan);
  }

  /**
   * A run of its own (a scheduler is one run: the daemon's concurrent
   * requests each get one), sharing the store access and the machines.
   * `localOnly`: no remote machines (a build a dispatcher sent here);
   * `signal`: stops the run (the client went away).
   */
  runAlone(targets: Target[], o: { localOnly?: boolean; signal?: AbortSignal } = {}): Promise<RunSummary> {
    return new Scheduler({ ...this.options, ...(o.localOnly ? { machines: [] } : {}), signal: o.signal }).run(targets);
  }

  /** Writes the closures of `paths` under the real store directory. */
  materialise(paths: string[]): Promise<void> {
    return this.access.materialiseClosure(paths);
  }

  async close(): Promise<void> {
    forgetTemplates();
    releaseSpawners();
    await settleRemovals();
    await Promise.all([...this.substituters.map((s) => s.close()), ...this.machines.map((m) => m.close()), this.uploader?.target.close()]);
  }
}
