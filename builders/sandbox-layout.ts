// The file system a build sees, laid out on the host before a sandbox starts
// (shared by the bubblewrap and runc sandboxes). It reproduces Nix's build
// chroot, as observed with `nix-build --option sandbox true`:
//
//   /            mode 0750, group nixbld; holds build dev etc nix proc tmp
//   /build       the working directory: empty, 0700, owned by the build user
//   /tmp         1777
//   /nix/store   1775, group nixbld: the inputs (read-only) and room for outputs
//   /etc         passwd, group, hosts (fixed contents); fixed-output builds get
//                the host's hosts, resolv.conf and services, and an nsswitch.conf
//   /dev         full null random tty urandom zero (the host's nodes), fd,
//                stdin/out/err and ptmx symlinks, pts, shm
//   /proc        a fresh proc
//
// The build user is uid 1000 / gid 100, both named nixbld. On the host it is
// `hostUid`/`hostGid` (a dedicated unprivileged id when we run as root), so
// files the build creates belong to it until canonicalisation.
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { hashBytes } from "../core/hash";
import { dirname, join } from "node:path";
import type { BuildRequest } from "./build-request";
import { BuildError } from "./build-request";

export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 100;
/** Host ids the build user maps to when we run as root (overridable by TVIX_BUILD_UID / TVIX_BUILD_GID). */
export const DEFAULT_HOST_BUILD_UID = 30001;
export const DEFAULT_HOST_BUILD_GID = 30000;

export const ETC_PASSWD =
  `root:x:0:0:Nix build user:/build:/noshell\n` +
  `nixbld:x:${SANDBOX_UID}:${SANDBOX_GID}:Nix build user:/build:/noshell\n` +
  `nobody:x:65534:65534:Nobody:/:/noshell\n`;
export const ETC_GROUP = `root:x:0:\nnixbld:!:${SANDBOX_GID}:\nnogroup:x:65534:\n`;
export const ETC_HOSTS = `127.0.0.1 localhost\n::1 localhost\n`;
export const ETC_NSSWITCH = `hosts: files dns\nservices: files\n`;
/** Host files a build with network access sees in its /etc. */
export const NETWORK_ETC_FILES = ["/etc/resolv.conf", "/etc/services", "/etc/hosts"];

/** Device nodes bound from the host. */
const DEVICES = ["/dev/full", "/dev/null", "/dev/random", "/dev/tty", "/dev/urandom", "/dev/zero"];

/** The host's devices a build sees: DEVICES, and /dev/kvm when the builder offers the `kvm` feature (as Nix). */
export function sandboxDevices(systemFeatures: readonly string[]): string[] {
  const wanted = systemFeatures.includes("kvm") ? [...DEVICES, "/dev/kvm"].sort() : DEVICES;
  return wanted.filter((d) => existsSync(d));
}
const DEV_SYMLINKS: [string, string][] = [
  ["fd", "/proc/self/fd"],
  ["stdin", "/proc/self/fd/0"],
  ["stdout", "/proc/self/fd/1"],
  ["stderr", "/proc/self/fd/2"],
  ["ptmx", "/dev/pts/ptmx"],
];

export interface BuildIds {
  hostUid: number;
  hostGid: number;
}

/** The host ids of the build user: a dedicated one when we are root, else ourselves. */
export function hostBuildIds(): BuildIds {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (uid !== 0) return { hostUid: uid, hostGid: gid };
  const num = (v: string | undefined, d: number) => (v && /^\d+$/.test(v) ? Number(v) : d);
  return { hostUid: num(process.env.TVIX_BUILD_UID, DEFAULT_HOST_BUILD_UID), hostGid: num(process.env.TVIX_BUILD_GID, DEFAULT_HOST_BUILD_GID) };
}

export interface Mount {
  host: string;
  sandbox: string;
  /** rw: a writable bind; ro: read-only; dev: a device node. */
  kind: "rw" | "ro" | "dev";
}

export interface Layout {
  /** The build's private directory on the host (removed when the build is released). */
  dir: string;
  /** The sandbox's root file system on the host. */
  root: string;
  /** Bind mounts on top of the root, in order (parents before children). */
  mounts: Mount[];
  /** Where a sandbox path inside a scratch path lies on the host. */
  hostPath(sandboxPath: string): string;
}

const amRoot = () => (process.getuid?.() ?? 1) === 0;

function own(path: string, uid: number, gid: number, link = false): void {
  if (!amRoot()) return;
  (link ? lchownSync : chownSync)(path, uid, gid);
}

/** Where the per-build scratch directory for sandbox path `s` lies under the build's directory. */
function scratchName(s: string): string {
  return "scratch" + s.replace(/\//g, "_");
}

/** The templates this process uses, by shape. */
const templates = new Map<string, string>();
/** Changes whenever what a template holds changes (old templates are then not used). */
const TEMPLATE_VERSION = 1;

/**
 * The read-only part of the root, shared by every build with the same shape
 * (scratch paths, network, sandbox paths): directories, /etc, /dev's links
 * and every mount point, so that a build only creates its scratch
 * directories. Kept under `tmpBase` as root-<hash of the shape>, for later
 * processes too (making one and removing it cost each process ~5-8 ms
 * here): made under a temp name and renamed into place, so a template in
 * place is whole. Builds cannot change it: it is bound read-only, and its
 * entries are ours (root's), not the build user's.
 */
function rootTemplate(req: BuildRequest, tmpBase: string, ids: BuildIds, rootMode: number, devices: readonly string[]): string {
  // what the template holds depends on the host too: which devices and network files exist, what each sandbox path is
  const shape = JSON.stringify([
    TEMPLATE_VERSION,
    req.scratchPaths,
    req.inputsDir,
    req.constraints.networkAccess,
    req.constraints.availableRoPaths.map(([host, inside]) => [inside, existsSync(host) ? (statSync(host).isDirectory() ? "d" : "f") : null]),
    ids,
    rootMode,
    req.constraints.networkAccess ? NETWORK_ETC_FILES.map((f) => existsSync(f)) : [],
    devices,
    ETC_PASSWD,
    ETC_GROUP,
    ETC_HOSTS,
    ETC_NSSWITCH,
    DEV_SYMLINKS,
  ]);
  const known = templates.get(shape);
  if (known && existsSync(known)) return known;
  const final = join(tmpBase, `root-${hashBytes("sha256", shape).format("nix32", false).slice(0, 32)}`);
  if (!usableTemplate(final, rootMode)) {
    const tmp = makeTemplate(req, tmpBase, ids, rootMode, devices);
    try {
      renameSync(tmp, final);
    } catch (e) {
      // another process put its own in place first (or a bad one is there: it goes)
      rmSync(tmp, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !usableTemplate(final, rootMode)) throw e;
    }
  }
  templates.set(shape, final);
  return final;
}

/** Whether `path` is a template in place: a directory of ours with the root's mode (anything else there is removed). */
function usableTemplate(path: string, rootMode: number): boolean {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return false;
  }
  if (st.isDirectory() && st.uid === (process.getuid?.() ?? st.uid) && (st.mode & 0o7777) === rootMode) return true;
  rmSync(path, { recursive: true, force: true });
  return false;
}

/** Makes a template under a temp name in `tmpBase`; returns its path. */
function makeTemplate(req: BuildRequest, tmpBase: string, ids: BuildIds, rootMode: number, devices: readonly string[]): string {
  const root = mkdtempSync(join(tmpBase, "root-tmp-"));
  chmodSync(root, rootMode);
  own(root, 0, ids.hostGid);
  const mkdirs = (p: string) => {
    // parents 0755, owned by root
    let cur = root;
    for (const part of p.split("/").filter(Boolean)) {
      cur = join(cur, part);
      if (!existsSync(cur)) mkdirSync(cur, { mode: 0o755 });
    }
    return cur;
  };
  for (const sp of [...req.scratchPaths, req.inputsDir]) mkdirs(sp);

  const etc = mkdirs("/etc");
  writeFileSync(join(etc, "passwd"), ETC_PASSWD, { mode: 0o644 });
  writeFileSync(join(etc, "group"), ETC_GROUP, { mode: 0o644 });
  if (req.constraints.networkAccess) {
    writeFileSync(join(etc, "nsswitch.conf"), ETC_NSSWITCH, { mode: 0o644 });
    for (const f of NETWORK_ETC_FILES) if (existsSync(f)) writeFileSync(join(root, f), "", { mode: 0o644 });
  } else writeFileSync(join(etc, "hosts"), ETC_HOSTS, { mode: 0o644 });

  const dev = mkdirs("/dev");
  for (const d of ["pts", "shm"]) mkdirSync(join(dev, d), { mode: 0o755 });
  for (const [name, target] of DEV_SYMLINKS) symlinkSync(target, join(dev, name));
  for (const d of devices) writeFileSync(join(root, d), "", { mode: 0o644 });
  mkdirs("/proc");

  for (const [host, inside] of req.constraints.availableRoPaths) {
    if (!existsSync(host)) {
      rmSync(root, { recursive: true, force: true });
      throw new BuildError(`sandbox path '${host}' does not exist on the host`, "sandbox");
    }
    const target = join(root, inside);
    mkdirs(dirname(inside));
    if (!existsSync(target)) {
      if (statSync(host).isDirectory()) mkdirSync(target);
      else writeFileSync(target, "");
    }
  }
  return root;
}

/** Forgets the templates this process used (they stay for later processes). */
export function forgetTemplates(): void {
  templates.clear();
}

/**
 * Lays out the sandbox's file system for `req` under a new directory in
 * `tmpBase`: the shared read-only root, plus this build's scratch
 * directories and files. `inputPaths` gives each input's materialised tree
 * on the host. `rootMode` is the root's mode (runc's init, an unprivileged
 * container root, needs 0755; Nix's is 0750).
 */
export function prepareLayout(
  req: BuildRequest,
  inputPaths: Map<string, string>,
  tmpBase: string,
  ids: BuildIds,
  tag: string,
  rootMode = 0o750,
  devices: readonly string[] = sandboxDevices([]),
): Layout {
  mkdirSync(tmpBase, { recursive: true });
  const root = rootTemplate(req, tmpBase, ids, rootMode, devices);
  const dir = mkdtempSync(join(tmpBase, `${tag.replace(/[^A-Za-z0-9+._-]/g, "_").slice(0, 60)}-`));
  // the build user (when it is not us) must reach the scratch directories below
  chmodSync(dir, 0o755);
  const mounts: Mount[] = [];

  // scratch space: the working directory belongs to the build user; the
  // inputs directory is shared (sticky, group-writable); others are like /tmp
  const scratchHost = new Map<string, string>();
  for (const sp of [...req.scratchPaths].sort()) {
    const host = join(dir, scratchName(sp));
    mkdirSync(host);
    if (sp === req.workingDir) {
      chmodSync(host, 0o700);
      own(host, ids.hostUid, ids.hostGid);
    } else if (sp === req.inputsDir) {
      chmodSync(host, 0o1775);
      own(host, 0, ids.hostGid);
    } else chmodSync(host, 0o1777);
    scratchHost.set(sp, host);
    mounts.push({ host, sandbox: sp, kind: "rw" });
  }
  if (req.constraints.networkAccess) for (const f of NETWORK_ETC_FILES) if (existsSync(f)) mounts.push({ host: f, sandbox: f, kind: "ro" });
  for (const d of devices) mounts.push({ host: d, sandbox: d, kind: "dev" });
  for (const [host, inside] of req.constraints.availableRoPaths) mounts.push({ host, sandbox: inside, kind: "ro" });

  const hostPath = (p: string) => {
    const sp = req.scratchPaths.find((x) => p === x || p.startsWith(x + "/"));
    if (!sp) throw new BuildError(`'${p}' is not in a scratch path`, "sandbox");
    return scratchHost.get(sp)! + p.slice(sp.length);
  };

  // inputs: symlinks are recreated, files and directories bound read-only
  // (on mount points made here: runc's unprivileged init cannot make them)
  for (const input of req.inputs) {
    const host = inputPaths.get(input.name);
    if (!host) throw new BuildError(`input '${input.name}' has no materialised tree`, "sandbox");
    const inside = `${req.inputsDir}/${input.name}`;
    const target = hostPath(inside);
    if (input.node.type === "symlink") {
      symlinkSync(new TextDecoder().decode(input.node.target), target);
      own(target, 0, 0, true);
      continue;
    }
    if (input.node.type === "directory") mkdirSync(target);
    else writeFileSync(target, "");
    mounts.push({ host, sandbox: inside, kind: "ro" });
  }

  for (const f of req.additionalFiles) {
    const host = hostPath(f.path);
    if (dirname(host) !== scratchHost.get(req.scratchPaths.find((x) => f.path.startsWith(x + "/"))!)) mkdirSync(dirname(host), { recursive: true });
    writeFileSync(host, f.contents, { mode: 0o644 });
    if (f.owner === "builder") own(host, ids.hostUid, ids.hostGid);
  }
  return { dir, root, mounts, hostPath };
}
