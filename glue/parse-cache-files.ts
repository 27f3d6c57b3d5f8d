// The parse cache's entries as files under $XDG_CACHE_HOME/tvix-ts/ast
// (eval/ast-cache.ts decides what goes in them), and the same for the
// hashes of imported files under .../imports (import-hash-cache.ts). Writes go through a
// temporary file renamed into place; a cache that cannot be written or read
// is only a miss.
import { mkdirs } from "../stores/mkdirs";
import { readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import type { ParseCacheStorage } from "../eval/io";
import { passFatal } from "../eval/limits";

function cacheBase(): string {
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? join(process.env.HOME, ".cache") : join(homedir() || tmpdir(), ".cache"));
  return join(base, "tvix-ts");
}

export function parseCacheDir(): string {
  return join(cacheBase(), "ast");
}

/** The hashes of imported host files (import-hash-cache.ts), in the same kind of files. */
export function importCacheDir(): string {
  return join(cacheBase(), "imports");
}

export class ParseCacheFiles implements ParseCacheStorage {
  constructor(readonly dir: string = parseCacheDir()) {}

  read(name: string): Uint8Array | undefined {
    try {
      return readFileSync(join(this.dir, name));
    } catch (e) {
      passFatal(e);
      return undefined;
    }
  }

  write(name: string, data: Uint8Array): boolean {
    const target = join(this.dir, name);
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      mkdirs(this.dir);
      writeFileSync(tmp, data);
      renameSync(tmp, target);
      return true;
    } catch (err) {
      passFatal(err);
      try {
        rmSync(tmp, { force: true });
      } catch {
        /* nothing to clean up */
      }
      return false;
    }
  }

  /** Removes the oldest entries while the cache is bigger than `limit` (down to half of it). */
  prune(limit: number): void {
    const entries: { p: string; size: number; mtime: number }[] = [];
    let total = 0;
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      passFatal(e);
      return;
    }
    for (const name of names) {
      const p = join(this.dir, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      entries.push({ p, size: st.size, mtime: st.mtimeMs });
      total += st.size;
    }
    if (total <= limit) return;
    entries.sort((a, b) => a.mtime - b.mtime);
    for (const e of entries) {
      if (total <= limit / 2) break;
      rmSync(e.p, { force: true });
      total -= e.size;
    }
  }
}
