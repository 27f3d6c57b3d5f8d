// Seed inputs: files of fuzz/seeds/ (real NARs, .drv files, narinfos and
// archives made by Nix and GNU tar/zip) and, for the parser, the conformance
// .nix files next to the repository when they are there.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const fuzzDir = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(fuzzDir, "..");

/** The files of a directory (not recursive), smallest first, at most `limit` bytes each. */
export function filesOf(dir: string, filter: (name: string) => boolean = () => true, limit = 64 * 1024): Uint8Array[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter(filter)
    .map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile() && statSync(p).size <= limit)
    .sort()
    .map((p) => new Uint8Array(readFileSync(p)));
}

export function seedFiles(kind: string): Uint8Array[] {
  return filesOf(join(fuzzDir, "seeds", kind));
}
