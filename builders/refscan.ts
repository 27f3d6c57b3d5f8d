// Reference scanning as Nix does it: an output refers to a store path when
// the path's 32-character nixbase32 hash part occurs anywhere in its bytes
// (file contents, symlink targets). The search checks a window's last
// character first and skips past any character outside the alphabet, so
// ordinary data is crossed in strides of up to 32 bytes.
import { lstatSync, openSync, readSync, closeSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";

const HASH_LEN = 32;
const ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";
const isBase32 = new Uint8Array(256);
for (const c of ALPHABET) isBase32[c.charCodeAt(0)] = 1;

export class RefScanner {
  private readonly wanted = new Map<string, number>();
  readonly found = new Set<number>();
  /** The last HASH_LEN - 1 bytes of the previous chunk of the same stream. */
  private tail: Uint8Array = new Uint8Array(0);

  constructor(needles: readonly string[]) {
    needles.forEach((n, i) => {
      if (n.length !== HASH_LEN) throw new Error(`reference needle '${n}' is not ${HASH_LEN} characters`);
      this.wanted.set(n, i);
    });
  }

  /** True once every needle was found (nothing left to look for). */
  get done(): boolean {
    return this.wanted.size === 0;
  }

  /** Scans the next chunk of a stream (file contents). */
  feed(chunk: Uint8Array): void {
    if (this.done) return;
    if (this.tail.length > 0) {
      // windows that straddle the boundary
      const joined = new Uint8Array(this.tail.length + Math.min(chunk.length, HASH_LEN - 1));
      joined.set(this.tail);
      joined.set(chunk.subarray(0, joined.length - this.tail.length), this.tail.length);
      this.search(joined);
    }
    this.search(chunk);
    const keep = Math.min(HASH_LEN - 1, chunk.length);
    if (chunk.length >= HASH_LEN - 1) this.tail = chunk.slice(chunk.length - keep);
    else {
      const t = new Uint8Array(Math.min(HASH_LEN - 1, this.tail.length + chunk.length));
      const all = new Uint8Array(this.tail.length + chunk.length);
      all.set(this.tail);
      all.set(chunk, this.tail.length);
      t.set(all.subarray(all.length - t.length));
      this.tail = t;
    }
  }

  /** Ends a stream: the next feed() starts a new one. */
  endStream(): void {
    this.tail = new Uint8Array(0);
  }

  /** Scans one whole string (a symlink target). */
  scanWhole(b: Uint8Array): void {
    this.endStream();
    this.search(b);
  }

  private search(s: Uint8Array): void {
    const n = s.length;
    let i = 0;
    outer: while (i + HASH_LEN <= n) {
      for (let j = HASH_LEN - 1; j >= 0; j--) {
        if (!isBase32[s[i + j]]) {
          i += j + 1;
          continue outer;
        }
      }
      const ref = String.fromCharCode(...s.subarray(i, i + HASH_LEN));
      const idx = this.wanted.get(ref);
      if (idx !== undefined) {
        this.wanted.delete(ref);
        this.found.add(idx);
        if (this.done) return;
      }
      i++;
    }
  }
}

const CHUNK = 1 << 20;

/** Scans a file system tree as Nix scans its NAR (names, contents, symlink targets); returns the indices of the needles found. */
export function scanTree(path: string, needles: readonly string[]): number[] {
  const sc = new RefScanner(needles);
  const buf = Buffer.allocUnsafe(CHUNK);
  const enc = new TextEncoder();
  const walk = (p: string): void => {
    if (sc.done) return;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) sc.scanWhole(enc.encode(readlinkSync(p)));
    else if (st.isDirectory())
      for (const name of readdirSync(p)) {
        // the NAR holds entry names too
        sc.scanWhole(enc.encode(name));
        walk(join(p, name));
      }
    else if (st.isFile()) {
      sc.endStream();
      const fd = openSync(p, "r");
      try {
        for (;;) {
          const got = readSync(fd, buf, 0, CHUNK, null);
          if (got === 0) break;
          sc.feed(buf.subarray(0, got));
          if (sc.done) break;
        }
      } finally {
        closeSync(fd);
      }
    }
  };
  walk(path);
  return [...sc.found].sort((a, b) => a - b);
}
