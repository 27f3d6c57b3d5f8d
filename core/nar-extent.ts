// Finds where a NAR ends inside a longer byte stream (the daemon protocol's
// older operations send a NAR raw, followed by more requests): walks the
// NAR's tokens with exact reads and passes every byte it consumed through,
// so that nothing after the NAR is read. Contents are passed in pieces, never
// held whole. The structure is checked only as far as finding the end needs;
// whoever consumes the bytes validates them (core/nar.ts's readNar).
import type { ByteReader } from "./byte-reader";
import { NarError } from "./nar";

const dec = new TextDecoder();
/** Longest token we accept (names, symlink targets, tags). */
const MAX_TOKEN = 64 * 1024;

export async function* narExtent(r: ByteReader): AsyncIterable<Uint8Array> {
  const out: Uint8Array[] = [];
  let pending = 0;
  const u64 = async (): Promise<number> => {
    const b = await r.exact(8);
    out.push(new Uint8Array(b));
    pending += 8;
    const hi = b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24);
    if (hi >>> 0 > 0x1fffff) throw new NarError("length field too large");
    return (hi >>> 0) * 0x100000000 + ((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0);
  };
  const str = async (): Promise<string> => {
    const n = await u64();
    if (n > MAX_TOKEN) throw new NarError(`string of ${n} bytes is too long`);
    const padded = n + ((8 - (n % 8)) % 8);
    const b = new Uint8Array(await r.exact(padded));
    out.push(b);
    pending += padded;
    return dec.decode(b.subarray(0, n));
  };
  const expect = async (t: string) => {
    const got = await str();
    if (got !== t) throw new NarError(`expected '${t}', got '${got.slice(0, 40)}'`);
  };
  function* flush(): Generator<Uint8Array> {
    if (pending === 0) return;
    const b = new Uint8Array(pending);
    let o = 0;
    for (const p of out) {
      b.set(p, o);
      o += p.length;
    }
    out.length = 0;
    pending = 0;
    yield b;
  }

  await expect("nix-archive-1");
  // iterative walk: `open` counts the directories we are inside
  let open = 0;
  for (;;) {
    // one node
    await expect("(");
    await expect("type");
    const type = await str();
    let justOpened = false;
    if (type === "regular") {
      let tag = await str();
      if (tag === "executable") {
        await expect("");
        tag = await str();
      }
      if (tag !== "contents") throw new NarError(`expected 'contents', got '${tag.slice(0, 40)}'`);
      const size = await u64();
      yield* flush();
      let left = size + ((8 - (size % 8)) % 8);
      while (left > 0) {
        const c = await r.some(Math.min(left, 1 << 20));
        left -= c.length;
        yield new Uint8Array(c);
      }
      await expect(")");
    } else if (type === "symlink") {
      await expect("target");
      await str();
      await expect(")");
    } else if (type === "directory") {
      open++;
      justOpened = true;
    } else throw new NarError(`unknown node type '${type.slice(0, 40)}'`);
    // find the next node: close the entry around a finished node, then
    // either another entry or the end of its directory (a finished node too)
    let next = false;
    while (open > 0) {
      if (!justOpened) await expect(")");
      justOpened = false;
      const tag = await str();
      if (tag === "entry") {
        await expect("(");
        await expect("name");
        await str();
        await expect("node");
        next = true;
        break;
      }
      if (tag !== ")") throw new NarError(`expected 'entry' or ')', got '${tag.slice(0, 40)}'`);
      open--;
    }
    if (!next) break;
  }
  yield* flush();
}
