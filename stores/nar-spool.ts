// A NAR read whole and checked (hash, size, content address) before any of
// it is stored, so that a refused NAR leaves no blobs behind: up to
// IN_MEMORY bytes are kept in memory, the rest goes to a temp file (in the
// store's tmp/ for a local store, where `tvix store verify` removes what a
// killed process left).
import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tempTag } from "../core/digest";
import { Hash, createHasher } from "../core/hash";
import { NarMismatchError } from "./nar-bridge";
import { readNar } from "../core/nar";

const IN_MEMORY = 64 * 1024 * 1024;
const READ_BACK = 1024 * 1024;

export interface SpooledNar {
  narHash: Hash;
  narSize: number;
  /** The NAR again (once). */
  replay(): AsyncIterable<Uint8Array>;
  /** Removes the temp file, if any. */
  dispose(): void;
}

export async function spoolCheckedNar(
  nar: AsyncIterable<Uint8Array>,
  expected: { narHash: string; narSize?: number },
  ca: { update(c: Uint8Array): void; finish(narHash: Hash): void } | null,
  dir = tmpdir(),
): Promise<SpooledNar> {
  const want = Hash.parse(expected.narHash);
  const hasher = createHasher(want.algo);
  const held: Uint8Array[] = [];
  let size = 0;
  let file: string | null = null;
  let fd = -1;
  async function* replay(): AsyncIterable<Uint8Array> {
    yield* held;
    if (fd < 0) return;
    for (let pos = 0; ; ) {
      const buf = Buffer.allocUnsafe(READ_BACK);
      const n = readSync(fd, buf, 0, READ_BACK, pos);
      if (n === 0) return;
      pos += n;
      yield buf.subarray(0, n);
    }
  }
  const dispose = () => {
    if (fd >= 0) closeSync(fd);
    fd = -1;
    if (file) rmSync(file, { force: true });
    file = null;
  };
  let narHash: Hash;
  try {
    for await (const c of nar) {
      hasher.update(c);
      ca?.update(c);
      size += c.length;
      if (fd < 0 && size <= IN_MEMORY) {
        held.push(new Uint8Array(c)); // a copy: a source may reuse its buffers
        continue;
      }
      if (fd < 0) {
        file = join(dir, `${process.pid}-nar-${tempTag(8)}.tmp`); // pid first: verify removes it once the process is gone
        fd = openSync(file, "wx", 0o600);
      }
      for (let o = 0; o < c.length; ) o += writeSync(fd, c, o, c.length - o);
    }
    narHash = hasher.digest();
    const wrong = !want.equals(narHash) || (expected.narSize !== undefined && expected.narSize !== size);
    // a broken NAR (truncated, say) is better explained by what is wrong with it
    if (wrong) await readNar(replay(), { async file() {}, symlink() {} });
    if (!want.equals(narHash)) throw new NarMismatchError(`NAR hash mismatch: expected ${want.toString()}, got ${narHash.toString()}`);
    if (expected.narSize !== undefined && expected.narSize !== size) throw new NarMismatchError(`NAR size mismatch: expected ${expected.narSize} bytes, got ${size}`);
    ca?.finish(narHash);
  } catch (e) {
    dispose();
    throw e;
  }
  return { narHash, narSize: size, dispose, replay };
}
