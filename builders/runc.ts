// The runc sandbox: the same laid-out root as bwrap's (sandbox-layout.ts),
// described as an OCI bundle (config.json) and run with `runc run`. runc
// gives the build a real devpts (so /dev/ptmx works) and enforces the same
// system call filter through libseccomp. Needs root (rootless runc is not
// implemented).
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { BuildError, type BuildEvents, type BuildLimits, type BuildRequest } from "./build-request";
import { SANDBOX_GID, SANDBOX_UID, type BuildIds, type Layout } from "./sandbox-layout";
import { SandboxBuildService, findProgram, type SandboxOptions } from "./sandbox";
import { runSandboxProcess, type RunResult } from "./run-process";
import { seccompOci } from "./seccomp";

const ALL_CAPS = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
  "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
  "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/** The OCI runtime configuration for a build. */
export function ociConfig(layout: Layout, req: BuildRequest, ids: BuildIds): object {
  const mounts: object[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "nodev", "noexec"] },
    // /dev as a bind of the laid-out directory: runc then adds no devices or links of its own
    { destination: "/dev", type: "bind", source: join(layout.root, "dev"), options: ["rbind", "ro", "nosuid", "noexec"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "nodev", "mode=1777"] },
  ];
  for (const m of layout.mounts) {
    const options = m.kind === "dev" ? ["bind", "nosuid", "noexec"] : ["rbind", m.kind === "ro" ? "ro" : "rw", "nosuid", "nodev"];
    mounts.push({ destination: m.sandbox, type: "bind", source: m.host, options });
  }
  const namespaces = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "user" }, { type: "cgroup" }];
  if (!req.constraints.networkAccess) namespaces.push({ type: "network" });
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: SANDBOX_UID, gid: SANDBOX_GID, additionalGids: [] },
      args: req.command,
      env: req.env.map(([k, v]) => `${k}=${v}`),
      cwd: req.workingDir,
      // the build user holds no capabilities; the bounding set stays full, as in Nix
      capabilities: { bounding: ALL_CAPS, effective: [], permitted: [], inheritable: [], ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: layout.root, readonly: true },
    hostname: "localhost",
    mounts,
    linux: {
      // the container's root is unprivileged on the host; the build user is the build user
      uidMappings: [
        { containerID: 0, hostID: ids.hostUid + 1, size: 1 },
        { containerID: SANDBOX_UID, hostID: ids.hostUid, size: 1 },
      ],
      gidMappings: [
        { containerID: 0, hostID: ids.hostGid + 1, size: 1 },
        { containerID: SANDBOX_GID, hostID: ids.hostGid, size: 1 },
      ],
      namespaces,
      seccomp: seccompOci(),
      maskedPaths: [],
      readonlyPaths: [],
    },
  };
}

export class RuncBuildService extends SandboxBuildService {
  readonly name = "runc";
  // runc's init runs as the container's (unprivileged) root and must reach the mount points
  protected override readonly rootMode = 0o755;
  private readonly program: string;
  private readonly stateDir: string;

  constructor(opts: SandboxOptions & { program?: string }) {
    super(opts);
    if ((process.getuid?.() ?? 1) !== 0) throw new BuildError("not implemented: the runc sandbox without root (rootless runc); use --sandbox bwrap", "sandbox");
    this.program = findProgram(opts.program ?? "runc");
    this.stateDir = join(this.tmpDir, "runc-state");
  }

  protected run(layout: Layout, req: BuildRequest, events: BuildEvents, limits: BuildLimits): Promise<RunResult> {
    const bundle = join(layout.dir, "bundle");
    mkdirSync(bundle);
    writeFileSync(join(bundle, "config.json"), JSON.stringify(ociConfig(layout, req, this.ids), null, 2));
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const id = `tvix-${basename(layout.dir)}`.replace(/[^A-Za-z0-9_.-]/g, "_");
    const runc = [this.program, "--root", this.stateDir];
    return runSandboxProcess(
      [...runc, "run", "--bundle", bundle, id],
      {
        env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
        kill: () => {
          spawnSync(runc[0], [...runc.slice(1), "kill", id, "KILL"]);
        },
      },
      events,
      limits,
    ).finally(() => {
      spawnSync(runc[0], [...runc.slice(1), "delete", "--force", id]);
    });
  }
}

/** Whether runc can run here: null, or why not. */
export function runcUnavailable(program = "runc"): string | null {
  if ((process.getuid?.() ?? 1) !== 0) return "runc needs root here (rootless runc is not implemented)";
  const r = spawnSync(program, ["--version"], { encoding: "utf8" });
  if (r.error) return `${program} not found (apt-get install runc)`;
  return null;
}
