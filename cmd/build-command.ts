// What `tvix build` and `tvix log` do (loaded when they run): evaluate
// (build-eval.ts), plan and realise (builders/session.ts), show progress
// (build-progress.ts), then link ./result and print the output paths.
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, lstatSync } from "node:fs";
import { join, resolve } from "node:path";
import { tmpdir } from "node:os";
import { UserError } from "./errors";
import { runEvaluation } from "./bigstack";
import { writeAll, writeErr } from "./output";
import type { EvalRequest } from "../eval/driver";
import { lendStore, type BuildEvalRequest } from "./build-eval";
import type { NixStore } from "../stores/types";
import type { BuildSettings } from "../builders/settings";
import { evalOptions as configuredEvalOptions, settings as configuredSettings } from "./settings";
import type { SchedulerEvent, Target, Failure } from "../builders/scheduler";
import { BuildError } from "../builders/build-request";
import { parseDerivation } from "../core/derivation";
import { describePlan, inkBuildProgress, plainBuildProgress, type BuildProgress } from "./build-progress";

/** TVIX_PHASES=build: how long each step of `tvix build` took, on stderr. */
const phases = process.env.TVIX_PHASES === "build";
let last = Date.now();
function phase(what: string): void {
  if (!phases) return;
  const now = Date.now();
  process.stderr.write(`tvix: ${what} ${now - last} ms (${(process.uptime() * 1000).toFixed(0)} ms since start)\n`);
  last = now;
}

/** "error: " and Nix's indentation of the lines after the first. */
function errorText(msg: string): string {
  return "error: " + msg.replace(/\n/g, "\n       ") + "\n";
}

/** Nix's report of a failed build: the message, the last log lines, where the full log is. */
export function formatFailure(f: Failure, printedLogs: boolean): string {
  let msg = f.error.message;
  const isBuilderFailure = f.error instanceof BuildError && ["failed", "transient", "timeout", "silent", "sandbox"].includes(f.error.kind);
  if (isBuilderFailure && !printedLogs && f.logTail.length > 0) {
    msg += `;\nlast ${f.logTail.length} log lines:\n` + f.logTail.map((l) => `> ${l}`).join("\n");
    msg += `\nFor full logs, run 'tvix log ${f.drvPath}'.`;
  }
  return errorText(msg);
}

export async function logDir(): Promise<string> {
  const { tvixHome } = await import("../stores/url");
  return process.env.TVIX_LOG_DIR || join(tvixHome(), "log");
}

/** Evaluates the expression and returns "drv" / "drv!out" strings, or an exit code. */
async function evaluate(paths: string[], opts: Record<string, any>, pending: { args: EvalRequest["args"]; options: Record<string, string> }, evalOptions: Record<string, string>): Promise<string[] | number> {
  if (paths.length > 1) throw new UserError(`more than one file given: ${paths.join(" ")}`);
  const dir = mkdtempSync(join(tmpdir(), "tvix-build-eval-"));
  const resultFile = join(dir, "result.json");
  try {
    const req: BuildEvalRequest = {
      expr: opts.expr,
      file: opts.expr === undefined ? paths[0] : undefined,
      attrPaths: opts.attr ?? [],
      args: pending.args,
      nixPath: opts.include ?? [],
      strict: false,
      output: "nix",
      location: true,
      showTrace: !!opts.showTrace,
      parseOnly: false,
      cwd: process.cwd(),
      storeDir: opts.storeDir,
      options: evalOptions,
      storeUrl: opts.store,
      resultFile,
    };
    if (opts.expr !== undefined && paths.length > 0) req.file = undefined;
    const { exitCode } = await runEvaluation("build-eval", req);
    if (exitCode !== 0) return exitCode;
    return (JSON.parse(readFileSync(resultFile, "utf8")) as { drvPaths: string[] }).drvPaths;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Replaces (or creates) a symlink atomically. */
function replaceSymlink(target: string, link: string): void {
  if (existsSync(link) || isSymlink(link)) {
    if (!isSymlink(link)) throw new UserError(`'${link}' exists and is not a symlink; not replacing it`);
  }
  const tmp = `${link}.tmp-${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {}
  symlinkSync(target, tmp);
  renameSync(tmp, link);
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The build settings of this run: the configuration, then the command's flags. */
export async function commandBuildSettings(opts: Record<string, any>): Promise<BuildSettings> {
  const { buildSettingsFrom } = await import("../builders/settings");
  const settings = buildSettingsFrom(configuredSettings());
  if (opts.sandbox !== undefined) {
    if (opts.sandbox !== "bwrap" && opts.sandbox !== "runc") throw new UserError(`--sandbox must be 'bwrap' or 'runc', not '${opts.sandbox}'`);
    settings.sandbox = opts.sandbox;
    settings.sandboxMode = "true";
  }
  const num = (v: string, what: string) => {
    if (!/^\d+$/.test(v)) throw new UserError(`${what} must be a number, not '${v}'`);
    return Number(v);
  };
  if (opts.maxJobs !== undefined) settings.maxJobs = opts.maxJobs === "auto" ? settings.cores : num(opts.maxJobs, "--max-jobs");
  if (opts.cores !== undefined) settings.cores = num(opts.cores, "--cores") || settings.cores;
  if (opts.keepGoing) settings.keepGoing = true;
  if (opts.timeout !== undefined) settings.timeout = opts.timeout;
  if (opts.maxSilentTime !== undefined) settings.maxSilentTime = opts.maxSilentTime;
  if (opts.substituters !== undefined) settings.substituters = String(opts.substituters).split(/\s+/).filter(Boolean);
  if (opts.trustedPublicKeys !== undefined) settings.trustedPublicKeys = String(opts.trustedPublicKeys).split(/\s+/).filter(Boolean);
  if (opts.requireSigs === false) settings.requireSigs = false;
  if (opts.builders !== undefined) settings.builders = String(opts.builders);
  if (opts.fallback) settings.fallback = true;
  if (opts.postBuildUpload !== undefined) settings.postBuildUpload = String(opts.postBuildUpload) || undefined;
  return settings;
}

export async function buildCommand(paths: string[], opts: Record<string, any>, pending: { args: EvalRequest["args"]; options: Record<string, string> }): Promise<number> {
  const settings = await commandBuildSettings(opts);
  const evalOptions = configuredEvalOptions();

  await import("../stores/backends");
  const { openStore, defaultStoreUrl } = await import("../stores/url");
  const { BuildSession } = await import("../builders/session");
  const storeUrl = opts.store ?? defaultStoreUrl();
  const store = await openStore(storeUrl, { storeDir: opts.storeDir });
  // (closed once: at the end of the builds, beside the session's clean-up, or here)
  let closing: Promise<void> | null = null;
  const closeStore = () => (closing ??= store.close());
  try {
    return await buildWithStore(paths, opts, pending, evalOptions, settings, store, storeUrl, openStore, BuildSession, closeStore);
  } finally {
    lendStore(null);
    await closeStore();
    if (phases) process.once("exit", () => phase("exit"));
  }
}

async function buildWithStore(
  paths: string[],
  opts: Record<string, any>,
  pending: { args: EvalRequest["args"]; options: Record<string, string> },
  evalOptions: Record<string, string>,
  settings: BuildSettings,
  store: NixStore,
  storeUrl: string,
  openStore: (url: string, o: { storeDir: string }) => Promise<NixStore>,
  BuildSession: typeof import("../builders/session").BuildSession,
  closeStore: () => Promise<void>,
): Promise<number> {
  // what to build: .drv paths as given, or the derivations the expression denotes
  const isDrvArg = (p: string) => /\.drv(!.*)?$/.test(p) && resolve(p).startsWith(opts.storeDir + "/");
  let specs: string[];
  // the evaluation's last .drv files, while they are being committed
  let drvsWritten = null as { durable: Promise<void>; drvs: { path: string; text: string }[] } | null;
  if (paths.length > 0 && paths.every(isDrvArg) && opts.expr === undefined) specs = paths.map((p) => (p.startsWith("/") ? p : resolve(p)));
  else {
    phase("settings");
    // an evaluation on this thread writes its .drv files through our store (not a second one);
    // while those writes wait for the disk, the sandbox's helper starts (new
    // derivations are usually built): two turns of the loop after the first
    // write was queued, so that the writer (which commits at setImmediate)
    // has handed its commit to libuv's threads before the fork blocks us
    const writing = !opts.dryRun && settings.maxJobs > 0 ? () => void setImmediate(() => setImmediate(() => BuildSession.startSandbox(settings))) : undefined;
    // the last .drv files are committed while the builds start (their
    // outputs are registered only once those are durable): the commit
    // (fsyncs, ~20-40 ms here) overlaps the first sandbox's start
    const drvsLater = (durable: Promise<void>, drvs: { path: string; text: string }[]) => {
      durable.catch(() => {}); // (awaited below)
      drvsWritten = { durable, drvs };
    };
    lendStore({ url: storeUrl, store, writing, drvsLater });
    let r: string[] | number = 1;
    try {
      r = await evaluate(paths, { ...opts, store: storeUrl }, pending, evalOptions);
    } finally {
      lendStore(null);
      if (typeof r === "number") BuildSession.releaseSandbox();
    }
    if (typeof r === "number") return r;
    specs = r;
    phase("evaluation");
  }

  const printLogs = !!opts.printBuildLogs;
  // warnings while opening the session (a substituter that cannot be reached) and planning (an untrusted substitute) are shown in any case
  let progress: BuildProgress | null = plainBuildProgress(false, writeErr);
  const onEvent = (e: SchedulerEvent) => progress?.onEvent(e);
  let session;
  try {
    session = await BuildSession.open({
      store,
      settings,
      logDir: await logDir(),
      check: !!opts.check,
      keepFailed: !!opts.keepFailed,
      onEvent,
      openStore: (u) => openStore(u, { storeDir: opts.storeDir }),
      registerAfter: drvsWritten?.durable,
    });
  } catch (e) {
    BuildSession.releaseSandbox();
    throw new UserError((e as Error).message);
  }
  try {
    for (const d of drvsWritten?.drvs ?? []) session.access.provide(d.path, parseDerivation(d.text));
    const targets: Target[] = [];
    for (const s of specs) {
      const [drvPath, outs] = s.split("!");
      const drv = await session.access.derivation(drvPath);
      const outputs = outs ? outs.split(",") : [drv.outputs.has("out") ? "out" : [...drv.outputs.keys()][0]];
      for (const o of outputs) if (!drv.outputs.has(o)) throw new UserError(`derivation '${drvPath}' does not have an output named '${o}'`);
      targets.push({ drvPath, outputs });
    }
    phase("store opened, derivations read");
    const plan = await session.plan(targets);
    phase("plan");
    if (opts.dryRun) {
      writeErr(
        describePlan({
          type: "plan",
          builds: plan.builds,
          substitutions: [...plan.substitutions].map(([path, s]) => ({ path, from: s.from.url, narSize: s.info.narSize, downloadSize: s.downloadSize })),
        }),
      );
      return 0;
    }
    const tty = opts.progress !== false && process.stderr.isTTY && !process.env.CI;
    progress = tty ? await inkBuildProgress(printLogs) : plainBuildProgress(printLogs, writeErr);
    let summary;
    try {
      summary = await session.run(targets, plan);
    } finally {
      await progress.finish();
      progress = null;
    }
    phase("builds");
    if (summary.failures.length > 0) {
      for (const f of summary.failures) writeErr(formatFailure(f, printLogs));
      if (summary.failures.length > 1) writeErr(errorText(`build of ${summary.failures.map((f) => `'${f.drvPath}'`).join(", ")} failed`));
      return summary.exitStatus;
    }
    // the results, written out under the store directory, linked and printed
    const outPaths: { path: string; output: string; index: number }[] = [];
    targets.forEach((t, i) => {
      const drv = session!.access.loaded(t.drvPath);
      for (const o of t.outputs) outPaths.push({ path: drv.outputs.get(o)!.path, output: o, index: i });
    });
    await session.materialise(outPaths.map((o) => o.path));
    if (opts.outLink !== false) {
      for (const o of outPaths) {
        let link = resolve(opts.outLink ?? "result");
        if (o.index > 0) link += `-${o.index + 1}`;
        if (o.output !== "out") link += `-${o.output}`;
        replaceSymlink(join(session.access.realStoreDir, o.path.slice(store.storeDir.length + 1)), link);
      }
    }
    for (const o of outPaths) writeAll(1, o.path + "\n");
    phase("results written out and linked");
    return 0;
  } finally {
    // the store's last commits and checkpoint while the session removes its scratch trees
    await Promise.all([session.close(), closeStore()]);
    phase("session and store closed");
    // (a failed commit of the .drv files failed every build that waited for it; it is the command's failure in any case)
    await drvsWritten?.durable.catch((e: Error) => {
      throw new UserError(`cannot write the derivations to the store: ${e.message}`);
    });
  }
}

export async function logCommand(path: string, opts: Record<string, any>): Promise<number> {
  const { LogStore } = await import("../builders/logs");
  const logs = new LogStore(await logDir());
  let drvPath = path.startsWith("/") ? path : resolve(path);
  if (!drvPath.endsWith(".drv")) {
    await import("../stores/backends");
    const { openStore, defaultStoreUrl } = await import("../stores/url");
    const store = await openStore(opts.store ?? defaultStoreUrl(), { storeDir: opts.storeDir });
    try {
      const info = await store.queryPathInfo(drvPath);
      if (!info) throw new UserError(`path '${drvPath}' is not valid`);
      if (!info.deriver) throw new UserError(`path '${drvPath}' has no deriver, so it has no build log`);
      drvPath = info.deriver;
    } finally {
      await store.close();
    }
  }
  const log = logs.read(drvPath);
  if (!log) throw new UserError(`build log of '${drvPath}' is not available`);
  process.stdout.write(log);
  return 0;
}
