// Checking that a NAR holds what a path's content address says, while the
// NAR streams by (C++ Nix's "ca hash mismatch importing path" check):
//   fixed:r:<algo>:<hash>   the NAR's own hash with <algo>
//   fixed:<algo>:<hash>     the NAR is one regular file; hash of its contents
//   text:sha256:<hash>      likewise
// A path's content address is what lets anyone add it without a signature,
// so it must describe the bytes actually stored.
import { Hash, HashAlgo, createHasher, parseHashAlgo } from "../core/hash";
import { NAR_FRAMING } from "../core/nar";

export interface ContentAddress {
  method: "recursive" | "flat" | "text";
  hash: Hash;
}

export function parseContentAddress(ca: string): ContentAddress {
  let method: ContentAddress["method"];
  let rest: string;
  if (ca.startsWith("text:")) {
    method = "text";
    rest = ca.slice(5);
  } else if (ca.startsWith("fixed:r:")) {
    method = "recursive";
    rest = ca.slice(8);
  } else if (ca.startsWith("fixed:")) {
    method = "flat";
    rest = ca.slice(6);
  } else {
    // Nix 2.26's words (its typo included)
    const prefix = ca.includes(":") ? ca.slice(0, ca.indexOf(":")) : ca;
    throw new Error(`content address prefix '${prefix}' is unrecognized. Recogonized prefixes are 'text' or 'fixed'`);
  }
  const colon = rest.indexOf(":");
  if (colon < 0) throw new Error(`content address '${ca}' lacks a hash algorithm`);
  const hash = Hash.parse(rest.slice(colon + 1), parseHashAlgo(rest.slice(0, colon)));
  if (method === "text" && hash.algo !== "sha256") throw new Error(`content address '${ca}': text hashes are sha256`);
  return { method, hash };
}

/** Renders a content address as Nix does (hash in nix32 with its algorithm). */
export function formatContentAddress(method: ContentAddress["method"], hash: Hash): string {
  const prefix = method === "text" ? "text:" : method === "recursive" ? "fixed:r:" : "fixed:";
  return prefix + hash.format("nix32", true);
}

const HEADERS = [NAR_FRAMING.regular, NAR_FRAMING.executable].map((t) => {
  const full = new Uint8Array(NAR_FRAMING.magic.length + t.length);
  full.set(NAR_FRAMING.magic);
  full.set(t, NAR_FRAMING.magic.length);
  return full;
});

/**
 * Hashes the contents of a NAR that holds one regular file, fed in chunks.
 * result() is null when the NAR is something else.
 */
export class FlatContentHasher {
  /** The NAR's first bytes, until the header is resolved. */
  private head = new Uint8Array(256);
  private headLen = 0;
  private off = 0;
  private dataStart = -1;
  private size = 0;
  private fed = 0;
  private notFlat = false;
  private readonly hasher;

  constructor(algo: HashAlgo) {
    this.hasher = createHasher(algo);
  }

  update(c: Uint8Array): void {
    const start = this.off;
    this.off += c.length;
    if (this.notFlat) return;
    if (this.dataStart < 0) {
      const take = Math.min(c.length, 256 - this.headLen);
      this.head.set(c.subarray(0, take), this.headLen);
      this.headLen += take;
      this.resolveHeader();
      if (this.dataStart < 0) return;
    }
    const lo = Math.max(start, this.dataStart);
    const hi = Math.min(start + c.length, this.dataStart + this.size);
    if (hi > lo) {
      this.hasher.update(c.subarray(lo - start, hi - start));
      this.fed += hi - lo;
    }
  }

  /** Finds the header (magic, `( type regular [executable ""] contents`, size) once enough is read. */
  private resolveHeader(): void {
    const h = this.head.subarray(0, this.headLen);
    let couldStill = false;
    for (const p of HEADERS) {
      const n = Math.min(h.length, p.length);
      let same = true;
      for (let i = 0; i < n && same; i++) same = h[i] === p[i];
      if (!same) continue;
      if (h.length < p.length + 8) {
        couldStill = true;
        continue;
      }
      let size = 0;
      for (let i = 7; i >= 0; i--) size = size * 256 + h[p.length + i];
      this.size = size;
      this.dataStart = p.length + 8;
      return;
    }
    if (!couldStill) this.notFlat = true;
  }

  result(): Hash | null {
    if (this.notFlat || this.dataStart < 0 || this.fed !== this.size) return null;
    return this.hasher.digest();
  }
}

/** A streaming check of `ca` against a NAR; finish() throws when they disagree. */
export function caVerifier(storePath: string, ca: string): { update(chunk: Uint8Array): void; finish(narHash: Hash): void } {
  const want = parseContentAddress(ca);
  const mismatch = (got: string) =>
    new Error(`ca hash mismatch importing path '${storePath}';\n  specified: ${want.hash.format("nix32", true)}\n  got:       ${got}`);
  if (want.method === "recursive") {
    const h = want.hash.algo === "sha256" ? null : createHasher(want.hash.algo);
    return {
      update: (c) => h?.update(c),
      finish(narHash) {
        const got = h ? h.digest() : narHash;
        if (!got.equals(want.hash)) throw mismatch(got.format("nix32", true));
      },
    };
  }
  const flat = new FlatContentHasher(want.hash.algo);
  return {
    update: (c) => flat.update(c),
    finish() {
      const got = flat.result();
      if (!got) throw new Error(`cannot add path '${storePath}': its content address '${ca}' needs a single regular file, and its NAR holds something else`);
      if (!got.equals(want.hash)) throw mismatch(got.format("nix32", true));
    },
  };
}
