// Holding a client's upload until its store path is known: content-addressed
// additions (AddToStore, AddTextToStore) name the path after a hash of the
// whole upload, so it is read in full first: in memory up to 32 MiB, past
// that in a temp file, hashed on the way in, then streamed out again.
import { closeSync, createReadStream, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tempTag } from "../core/digest";
import { Hash, HashAlgo, createHasher } from "../core/hash";
import { NAR_FRAMING } from "../core/nar";

const IN_MEMORY = 32 * 1024 * 1024;

export class Spool {
  private parts: Uint8Array[] = [];
  private file: string | null = null;
  private fd = -1;
  size = 0;

  private constructor(private readonly dir: string) {}

  /** Reads `source` to its end, hashing it with each of `algos`. */
  static async fill(source: AsyncIterable<Uint8Array>, algos: HashAlgo[], dir = tmpdir()): Promise<{ spool: Spool; hashes: Map<HashAlgo, Hash> }> {
    const s = new Spool(dir);
    const hashers = new Map(algos.map((a) => [a, createHasher(a)] as const));
    try {
      for await (const c of source) {
        for (const h of hashers.values()) h.update(c);
        s.append(c);
      }
    } catch (e) {
      s.discard();
      throw e;
    } finally {
      if (s.fd >= 0) {
        closeSync(s.fd);
        s.fd = -1;
      }
    }
    return { spool: s, hashes: new Map([...hashers].map(([a, h]) => [a, h.digest()])) };
  }

  private append(c: Uint8Array): void {
    this.size += c.length;
    if (this.fd < 0 && this.size <= IN_MEMORY) {
      this.parts.push(c);
      return;
    }
    if (this.fd < 0) {
      this.file = join(this.dir, `tvix-spool-${process.pid}-${tempTag(6)}`);
      this.fd = openSync(this.file, "wx", 0o600);
      for (const p of this.parts) writeSync(this.fd, p);
      this.parts = [];
    }
    writeSync(this.fd, c);
  }

  /** The bytes again, as a stream. */
  async *stream(): AsyncIterable<Uint8Array> {
    if (this.file === null) {
      yield* this.parts;
      return;
    }
    for await (const c of createReadStream(this.file, { highWaterMark: 1 << 20 })) yield c as Uint8Array;
  }

  /** The whole upload (small ones only: AddTextToStore-sized). */
  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const c of this.stream()) parts.push(c);
    return new Uint8Array(Buffer.concat(parts));
  }

  discard(): void {
    this.parts = [];
    if (this.file) rmSync(this.file, { force: true });
    this.file = null;
  }
}

/** The NAR of one regular (non-executable) file with these contents. */
export async function* flatNar(contents: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Uint8Array> {
  const head = new Uint8Array(NAR_FRAMING.magic.length + NAR_FRAMING.regular.length + 8);
  head.set(NAR_FRAMING.magic);
  head.set(NAR_FRAMING.regular, NAR_FRAMING.magic.length);
  new DataView(head.buffer).setBigUint64(head.length - 8, BigInt(size), true);
  yield head;
  yield* contents;
  const pad = (8 - (size % 8)) % 8;
  if (pad) yield new Uint8Array(pad);
  yield NAR_FRAMING.close;
}

/** sha256 and size of a stream. */
export async function hashStream(s: AsyncIterable<Uint8Array>): Promise<{ hash: Hash; size: number }> {
  const h = createHasher("sha256");
  let size = 0;
  for await (const c of s) {
    h.update(c);
    size += c.length;
  }
  return { hash: h.digest(), size };
}
