// Target "unpack": tar (plain, gzip, xz, bzip2) and zip unpacking into the
// in-memory tree (glue/fetch/unpack.ts unpackArchive), on mutated archives
// made by GNU tar and Info-ZIP. unpackArchive reports a bad archive with a
// plain Error naming the URL; a crash is a JavaScript fault inside (a
// TypeError, RangeError, stack overflow...), found by isJsFault.
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unpackArchive } from "../glue/fetch/unpack";
import type { Target } from "./engine";
import { seedFiles } from "./seeds";

let dir: string | null = null;
function scratch(): string {
  if (!dir) {
    // RAM-backed when the machine has it: one file rewritten per input
    dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "tvix-fuzz-unpack-"));
    process.on("exit", () => rmSync(dir!, { recursive: true, force: true }));
  }
  return join(dir, "archive");
}

export const unpackTarget: Target = {
  name: "unpack",
  seeds: () => seedFiles("archive"),
  dictionary: ["ustar\0", "ustar  \0", "././@LongLink", "PaxHeader", "path=", "linkpath=", " size=", "../", "/", "0000755\0", "0000644\0", "00000000000\0", "PK\x03\x04", "PK\x01\x02", "PK\x05\x06", "\x1f\x8b", "BZh9", "\xfd7zXZ\0"],
  maxLen: 64 * 1024,
  async run(input) {
    const file = scratch();
    writeFileSync(file, input);
    const tree = await unpackArchive({ file, url: "fuzz://archive" });
    return `ok:${tree.type}`;
  },
  expected: (e) => e instanceof Error,
};
