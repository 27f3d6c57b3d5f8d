// Shared by the store tests: a varied file tree and small stream helpers.
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `tvix-${tag}-`));
}

/** Deterministic pseudo-random bytes. */
/** Flips one bit of the byte at `offset` in a (possibly read-only) file on disk. */
export function flipByteInFile(file: string, offset: number): void {
  chmodSync(file, 0o644);
  const data = readFileSync(file);
  data[offset] ^= 1;
  writeFileSync(file, data);
}

export function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A tree with executable and empty files, symlinks (relative, absolute,
 * dangling), empty and nested directories, unicode names, a 5 MB file and
 * names that sort differently as UTF-16 and as bytes.
 */
export function makeVariedTree(parent: string, bigBytes = 5 * 1000 * 1000): string {
  const root = join(parent, "tree");
  mkdirSync(join(root, "sub", "deeper", "deepest"), { recursive: true });
  mkdirSync(join(root, "empty-dir"));
  mkdirSync(join(root, "sub", "also-empty"));
  writeFileSync(join(root, "hello.txt"), "hello world\n");
  writeFileSync(join(root, "empty"), "");
  writeFileSync(join(root, "run.sh"), "#!/bin/sh\necho hi\n");
  chmodSync(join(root, "run.sh"), 0o755);
  writeFileSync(join(root, "empty-exec"), "");
  chmodSync(join(root, "empty-exec"), 0o755);
  writeFileSync(join(root, "sub", "deeper", "deepest", "x"), "x");
  writeFileSync(join(root, "sub", "seven"), "1234567");
  writeFileSync(join(root, "sub", "eight"), "12345678");
  writeFileSync(join(root, "grüße-ü.txt"), "unicode\n");
  writeFileSync(join(root, "日本語"), "nihongo\n");
  writeFileSync(join(root, "\u{1F600}-emoji"), "smile\n");
  writeFileSync(join(root, "\uFF21-fullwidth"), "sorts before the emoji in UTF-16, after it in UTF-8\n");
  writeFileSync(join(root, "big.bin"), noise(bigBytes, 7));
  writeFileSync(join(root, "sub", "medium.bin"), noise(300 * 1024, 9));
  symlinkSync("hello.txt", join(root, "link-rel"));
  symlinkSync("/nix/store/does-not-exist", join(root, "link-abs"));
  symlinkSync("../nowhere/at/all", join(root, "sub", "dangling"));
  symlinkSync("deeper", join(root, "sub", "link-to-dir"));
  return root;
}

export async function* chunksOf(b: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

export async function collectStream(s: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}
