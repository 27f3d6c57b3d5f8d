// Garbage collector roots, laid out as C++ Nix does under a state directory
// (<root>/nix/var/nix by default):
//
//   gcroots/...            symlinks to store paths (permanent roots), scanned
//                          recursively; a symlink to a path outside the store
//                          is followed once (indirect roots: a link in
//                          gcroots/auto/ to a user's `result` symlink, which
//                          is removed once that symlink is gone)
//   gcroots/auto/<hash>    indirect roots added by AddIndirectRoot/AddPermRoot
//   profiles/...           profile generations, scanned like gcroots
//   temproots/<pid>[-<n>]  temporary roots of live processes (connections):
//                          store paths, each followed by a NUL
//
// Store paths in links are logical (under the store directory, e.g.
// /nix/store), whatever directory the files are kept in.
import { closeSync, lstatSync, writeSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { tempTag } from "../core/digest";
import { hashBytes } from "../core/hash";
import { StorePath } from "../core/store-path";
import { mkdirs } from "./mkdirs";

export type RootLog = (msg: string) => void;

/** Store path -> the links that keep it alive. */
export type Roots = Map<string, Set<string>>;

export class GcRoots {
  readonly gcrootsDir: string;
  readonly autoDir: string;
  readonly profilesDir: string;
  readonly tempRootsDir: string;

  constructor(readonly stateDir: string, readonly storeDir: string) {
    this.gcrootsDir = join(stateDir, "gcroots");
    this.autoDir = join(this.gcrootsDir, "auto");
    this.profilesDir = join(stateDir, "profiles");
    this.tempRootsDir = join(stateDir, "temproots");
    for (const d of [this.autoDir, this.profilesDir, this.tempRootsDir]) mkdirs(d, 0o755);
  }

  /** The store path a link target names (a path inside one counts as that path), or null. */
  storePathOf(target: string): string | null {
    const prefix = this.storeDir.endsWith("/") ? this.storeDir : this.storeDir + "/";
    if (!target.startsWith(prefix)) return null;
    const base = target.slice(prefix.length).split("/")[0];
    try {
      StorePath.parse(base);
      return prefix + base;
    } catch {
      return null;
    }
  }

  /** Registers `link` (an absolute path, usually a symlink into the store) as an indirect root. */
  addIndirectRoot(link: string): void {
    if (!isAbsolute(link)) throw new Error(`indirect root '${link}' must be an absolute path`);
    const name = hashBytes("sha1", link).toNixBase32();
    replaceSymlink(link, join(this.autoDir, name));
  }

  /**
   * Makes `gcRoot` a symlink to `storePath`; outside gcroots/ it also
   * becomes an indirect root. Returns the root's absolute path.
   */
  addPermRoot(storePath: string, gcRoot: string): string {
    const abs = resolve(gcRoot);
    if (this.storePathOf(abs)) throw new Error(`creating a garbage collector root (${abs}) in the Nix store is forbidden (are you running nix-build inside the store?)`);
    mkdirs(dirname(abs), 0o755);
    replaceSymlink(storePath, abs);
    if (!isInside(abs, this.gcrootsDir)) this.addIndirectRoot(abs);
    return abs;
  }

  /**
   * Every root under gcroots/ and profiles/ whose store path `isValid`
   * says is valid. Stale indirect roots (their user link is gone) are
   * removed, as Nix does.
   */
  async findRoots(isValid: (storePath: string) => Promise<boolean>, log: RootLog = () => {}): Promise<Roots> {
    const found: { link: string; target: string }[] = [];
    const scan = (path: string, depth: number) => {
      if (depth > 64) return;
      let st;
      try {
        st = lstatSync(path);
      } catch {
        return;
      }
      if (st.isDirectory()) {
        let names: string[];
        try {
          names = readdirSync(path);
        } catch {
          return;
        }
        for (const n of names) scan(join(path, n), depth + 1);
        return;
      }
      if (st.isSymbolicLink()) {
        const target = resolve(dirname(path), readlinkSync(path));
        if (this.storePathOf(target)) {
          found.push({ link: path, target });
          return;
        }
        // an indirect root: the link points at the user's symlink
        let st2;
        try {
          st2 = lstatSync(target);
        } catch {
          if (isInside(path, this.autoDir)) {
            log(`removing stale link from '${path}' to '${target}'`);
            try {
              unlinkSync(path);
            } catch {}
          }
          return;
        }
        if (!st2.isSymbolicLink()) return;
        const target2 = resolve(dirname(target), readlinkSync(target));
        if (this.storePathOf(target2)) found.push({ link: target, target: target2 });
        return;
      }
      if (st.isFile()) {
        // a regular file named after a store path is a root too (older Nix wrote those)
        const p = this.storePathOf(join(this.storeDir, path.slice(path.lastIndexOf("/") + 1)));
        if (p) found.push({ link: path, target: p });
      }
    };
    scan(this.gcrootsDir, 0);
    scan(this.profilesDir, 0);
    const roots: Roots = new Map();
    for (const { link, target } of found) {
      const p = this.storePathOf(target)!;
      if (!(await isValid(p))) {
        log(`skipping invalid root from '${link}' to '${target}'`);
        continue;
      }
      if (!roots.has(p)) roots.set(p, new Set());
      roots.get(p)!.add(link);
    }
    return roots;
  }

  /** The temporary roots of every live process (files of dead ones are removed). */
  tempRoots(): Set<string> {
    const out = new Set<string>();
    let names: string[] = [];
    try {
      names = readdirSync(this.tempRootsDir);
    } catch {
      return out;
    }
    for (const n of names) {
      const pid = Number(/^(\d+)/.exec(n)?.[1]);
      const file = join(this.tempRootsDir, n);
      if (!pid || !pidAlive(pid)) {
        try {
          unlinkSync(file);
        } catch {}
        continue;
      }
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch {
        continue;
      }
      for (const p of text.split("\0")) if (p !== "") out.add(p);
    }
    return out;
  }

  /** A temp-roots file for one client of this process. */
  openTempRoots(tag: string): TempRootsFile {
    return new TempRootsFile(join(this.tempRootsDir, `${process.pid}-${tag}`));
  }
}

/** Temporary roots of one client: appended to a file other collectors read; removed on close. */
export class TempRootsFile {
  readonly paths = new Set<string>();
  private fd = -1;

  constructor(readonly file: string) {}

  add(storePath: string): void {
    if (this.paths.has(storePath)) return;
    this.paths.add(storePath);
    if (this.fd < 0) this.fd = openSync(this.file, "a");
    writeSync(this.fd, storePath + "\0");
  }

  close(): void {
    this.paths.clear();
    if (this.fd >= 0) {
      closeSync(this.fd);
      rmSync(this.file, { force: true });
    }
    this.fd = -1;
  }
}

function isInside(p: string, dir: string): boolean {
  const d = dir.endsWith("/") ? dir : dir + "/";
  return p.startsWith(d);
}

/** Whether a process of this machine is still running (ours always is). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Points `link` at `target`, atomically replacing what was there. */
function replaceSymlink(target: string, link: string): void {
  const tmp = `${link}.tmp-${process.pid}-${tempTag(4)}`;
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, link);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

