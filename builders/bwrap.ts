// The bubblewrap sandbox (the default): the laid-out root bound read-only at
// /, scratch paths, inputs and devices bound on top, fresh user, pid, ipc,
// uts, cgroup and (unless the request allows the network) network
// namespaces, the builder as pid 1 with uid 1000 / gid 100, no capabilities,
// no new privileges and Nix's system call filter.
//
// When we run as root, bwrap itself runs as the dedicated build user (an
// unprivileged user namespace), so host files appear as nobody inside, as
// in Nix's sandbox, and the build cannot touch anything it does not own.
import { spawnSync } from "node:child_process";
import type { BuildEvents, BuildLimits, BuildRequest } from "./build-request";
import { SANDBOX_GID, SANDBOX_UID, hostBuildIds, type BuildIds, type Layout } from "./sandbox-layout";
import { SandboxBuildService, defaultBuildTmp, findProgram, type SandboxOptions } from "./sandbox";
import { runSandboxProcess, type RunResult } from "./run-process";
import { seccompBpf } from "./seccomp";
import { sharedSpawner, type BwrapSpawner } from "./spawner";
import { join } from "node:path";

/** bwrap's options for a build (the command follows them). */
export function bwrapOptions(layout: Layout, req: BuildRequest, seccompFd: number): string[] {
  const a = ["--unshare-user", "--uid", String(SANDBOX_UID), "--gid", String(SANDBOX_GID)];
  a.push("--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try");
  if (!req.constraints.networkAccess) a.push("--unshare-net");
  a.push("--hostname", "localhost", "--as-pid-1", "--die-with-parent", "--new-session");
  a.push("--ro-bind", layout.root, "/");
  for (const m of layout.mounts) a.push(m.kind === "rw" ? "--bind" : m.kind === "dev" ? "--dev-bind" : "--ro-bind", m.host, m.sandbox);
  a.push("--proc", "/proc", "--perms", "1777", "--tmpfs", "/dev/shm");
  a.push("--chdir", req.workingDir, "--seccomp", String(seccompFd));
  return a;
}

export class BwrapBuildService extends SandboxBuildService {
  readonly name = "bwrap";
  private readonly program: string;

  constructor(opts: SandboxOptions & { program?: string }) {
    super(opts);
    this.program = findProgram(opts.program ?? "bwrap");
  }

  private spawner: BwrapSpawner | null = null;

  protected run(layout: Layout, req: BuildRequest, events: BuildEvents, limits: BuildLimits): Promise<RunResult> {
    if (process.env.TVIX_BWRAP_SPAWN === "direct")
      return runSandboxProcess([this.program, ...bwrapOptions(layout, req, 3), "--", ...req.command], { env: Object.fromEntries(req.env), extraFds: [seccompBpf()], ...helperIds(this.ids) }, events, limits);
    this.spawner ??= spawnerFor(this.program, this.ids, this.tmpDir);
    return this.spawner.run(join(layout.dir, "spawn"), bwrapOptions(layout, req, 4), req.command, req.env, seccompBpf(), events, limits);
  }
}

function spawnerFor(program: string, ids: BuildIds, tmpDir: string): BwrapSpawner {
  return sharedSpawner(program, helperIds(ids), tmpDir);
}

/**
 * Starts the helper that a BwrapBuildService with these options (the
 * defaults: the build user, `bwrap` on PATH) will start its builds from, so
 * that it is up when the first build comes. Nothing when bwrap is spawned
 * directly or cannot be found (the build reports that).
 */
export function startBwrapHelper(opts: { tmpDir?: string; ids?: BuildIds; program?: string } = {}): void {
  if (process.env.TVIX_BWRAP_SPAWN === "direct") return;
  let program: string;
  try {
    program = findProgram(opts.program ?? "bwrap");
  } catch {
    return;
  }
  spawnerFor(program, opts.ids ?? hostBuildIds(), opts.tmpDir ?? defaultBuildTmp()).warmUp();
}

/** Who starts bwrap: as root, the build user (the sandbox is entered as that user); else ourselves. */
function helperIds(ids: BuildIds): { uid?: number; gid?: number } {
  return (process.getuid?.() ?? 1) === 0 ? { uid: ids.hostUid, gid: ids.hostGid } : {};
}

/** Whether bwrap can start a sandbox here (for tests and `--sandbox` checks): null, or why not. */
export function bwrapUnavailable(program = "bwrap"): string | null {
  const r = spawnSync(program, ["--unshare-all", "--ro-bind", "/", "/", "true"], { encoding: "utf8" });
  if (r.error) return `${program} not found (apt-get install bubblewrap)`;
  if (r.status !== 0) return `${program} cannot create a sandbox here: ${r.stderr.trim()}`;
  return null;
}
