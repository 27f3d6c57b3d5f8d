// The host file system as the evaluator sees it (paths outside the store,
// and store paths that only the host has). Like C++ Nix's source accessor it
// remembers what it looked up during one evaluation: nixpkgs-style package
// sets list the same directories once per bootstrap stage.
import { closeSync, fstatSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, statSync, type Dirent, type Stats } from "node:fs";
import { IOError, type FileStamp, type FileType } from "../eval/io";
import { fileTypeOf } from "../stores/host-tree";

/** An fs error as an IOError with Nix's wording left to the caller. */
export function ioError(e: unknown): IOError {
  if (e instanceof IOError) return e;
  const err = e as NodeJS.ErrnoException;
  return new IOError(err?.message ?? String(e), err?.code);
}

function direntType(d: Dirent): FileType {
  return d.isSymbolicLink() ? "symlink" : d.isDirectory() ? "directory" : d.isFile() ? "regular" : "unknown";
}

export class HostFS {
  private readonly lstats = new Map<string, Stats | null>();
  private readonly dirs = new Map<string, [string, FileType][]>();

  /** lstat, remembered; null when the path does not exist. */
  lstat(path: string): Stats | null {
    let st = this.lstats.get(path);
    if (st === undefined) {
      try {
        st = lstatSync(path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && code !== "ENOTDIR") throw ioError(e);
        st = null;
      }
      this.lstats.set(path, st);
    }
    return st;
  }

  fileType(path: string): FileType | null {
    const st = this.lstat(path);
    return st === null ? null : fileTypeOf(st);
  }

  resolvedType(path: string): FileType | null {
    const st = this.lstat(path);
    if (st === null) return null;
    if (!st.isSymbolicLink()) return fileTypeOf(st);
    try {
      return fileTypeOf(statSync(path));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return null;
      throw ioError(e);
    }
  }

  readLink(path: string): string {
    try {
      return readlinkSync(path);
    } catch (e) {
      throw ioError(e);
    }
  }

  /**
   * A file's bytes. As Nix, a file that is not a regular file (a device, a
   * pipe) is read up to the size it reports, so /dev/zero reads as empty
   * instead of forever.
   */
  readFile(path: string): Uint8Array {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw ioError(e);
    }
    try {
      const st = fstatSync(fd);
      if (st.isFile()) return readFileSync(fd);
      const buf = Buffer.alloc(st.size);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, null);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } catch (e) {
      throw ioError(e);
    } finally {
      closeSync(fd);
    }
  }

  readTextFile(path: string): string {
    const b = this.readFile(path);
    return Buffer.from(b.buffer, b.byteOffset, b.length).toString("utf8");
  }

  /** Entries with their types (from the directory itself, as Nix: no lstat per entry), remembered. */
  readDir(path: string): [string, FileType][] {
    let entries = this.dirs.get(path);
    if (entries === undefined) {
      try {
        entries = readdirSync(path, { withFileTypes: true }).map((d) => [d.name, direntType(d)]);
      } catch (e) {
        throw ioError(e);
      }
      this.dirs.set(path, entries);
    }
    return entries;
  }

  /** A regular file's identity for the parse cache: device, inode, size and times in nanoseconds. */
  fileStamp(path: string): FileStamp | null {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) return null;
    const changedNs = st.ctimeNs > st.mtimeNs ? st.ctimeNs : st.mtimeNs;
    return { stamp: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, size: Number(st.size), changedMs: Number(changedNs / 1000000n) };
  }
}
