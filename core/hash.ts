// Hashes as Nix uses them: md5/sha1/sha256/sha512 digests printed in base16,
// nix32, base64 or SRI, and parsed from any of those forms.
import { encodeEscapedBytes, hasEscapedBytes } from "./bytes";
import { createHash, digestOf } from "./digest";
import { decodeNixBase32, encodeNixBase32, nixBase32Length } from "./nixbase32";

export type HashAlgo = "md5" | "sha1" | "sha256" | "sha512";
export type HashEncoding = "base16" | "nix32" | "base64" | "sri";

export const HASH_SIZES: Record<HashAlgo, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

export function isHashAlgo(s: string): s is HashAlgo {
  return s === "md5" || s === "sha1" || s === "sha256" || s === "sha512";
}

export function parseHashAlgo(s: string): HashAlgo {
  if (isHashAlgo(s)) return s;
  throw new Error(`unknown hash algorithm '${s}', expect 'md5', 'sha1', 'sha256', or 'sha512'`);
}

export class Hash {
  constructor(readonly algo: HashAlgo, readonly digest: Uint8Array) {
    if (digest.length !== HASH_SIZES[algo]) throw new Error(`${algo} digest must be ${HASH_SIZES[algo]} bytes, got ${digest.length}`);
  }

  toBase16(): string {
    return Buffer.from(this.digest.buffer, this.digest.byteOffset, this.digest.length).toString("hex");
  }
  toNixBase32(): string {
    return encodeNixBase32(this.digest);
  }
  toBase64(): string {
    return Buffer.from(this.digest.buffer, this.digest.byteOffset, this.digest.length).toString("base64");
  }
  toSRI(): string {
    return `${this.algo}-${this.toBase64()}`;
  }

  /** `withAlgo` prefixes "algo:" (SRI always carries its algorithm). */
  format(enc: HashEncoding, withAlgo: boolean): string {
    if (enc === "sri") return this.toSRI();
    const body = enc === "base16" ? this.toBase16() : enc === "nix32" ? this.toNixBase32() : this.toBase64();
    return withAlgo ? `${this.algo}:${body}` : body;
  }

  equals(o: Hash): boolean {
    return this.algo === o.algo && Buffer.compare(this.digest, o.digest) === 0;
  }

  toString(): string {
    return this.format("nix32", true);
  }

  /**
   * Parses a hash like Nix's Hash::parseAny: "algo:<base16|nix32|base64>",
   * SRI "algo-<base64>", or a bare digest when `algo` is given. The encoding
   * of a bare or prefixed digest is chosen by its length.
   */
  static parse(s: string, algo?: HashAlgo): Hash {
    let rest = s;
    let found: HashAlgo | undefined;
    let sri = false;
    const colon = s.indexOf(":");
    if (colon >= 0) {
      found = parseHashAlgo(s.slice(0, colon));
      rest = s.slice(colon + 1);
    } else {
      const dash = s.indexOf("-");
      if (dash >= 0 && isHashAlgo(s.slice(0, dash))) {
        found = s.slice(0, dash) as HashAlgo;
        rest = s.slice(dash + 1);
        sri = true;
      }
    }
    if (found && algo && found !== algo) throw new Error(`hash '${s}' should have type '${algo}'`);
    const a = found ?? algo;
    if (!a) throw new Error(`hash '${s}' does not include a type, nor is the type otherwise known from context`);
    const size = HASH_SIZES[a];
    if (sri) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(rest) || rest.length % 4 !== 0) throw new Error(`invalid SRI hash '${rest}'`);
      const d = decodeBase64Strict(rest, s);
      if (d.length !== size) throw new Error(`invalid SRI hash '${s}'`);
      return new Hash(a, d);
    }
    if (rest.length === size * 2) {
      if (!/^[0-9a-fA-F]*$/.test(rest)) throw new Error(`invalid base-16 hash '${s}'`);
      return new Hash(a, new Uint8Array(Buffer.from(rest, "hex")));
    }
    if (rest.length === nixBase32Length(size)) {
      try {
        return new Hash(a, decodeNixBase32(rest));
      } catch {
        throw new Error(`invalid base-32 hash '${s}'`);
      }
    }
    if (rest.length === Math.ceil(size / 3) * 4) {
      const d = decodeBase64Strict(rest, s);
      if (d.length !== size) throw new Error(`invalid base-64 hash '${s}'`);
      return new Hash(a, d);
    }
    throw new Error(`hash '${s}' has wrong length for hash algorithm '${a}'`);
  }
}

function decodeBase64Strict(b64: string, whole: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new Error(`invalid base-64 hash '${whole}'`);
  return new Uint8Array(Buffer.from(b64, "base64"));
}

export function hashBytes(algo: HashAlgo, data: Uint8Array | string): Hash {
  // a string's bytes: kept raw bytes as themselves (core/bytes.ts)
  if (typeof data === "string" && hasEscapedBytes(data)) data = encodeEscapedBytes(data);
  return new Hash(algo, new Uint8Array(digestOf(algo, data)));
}

export function createHasher(algo: HashAlgo): { update(chunk: Uint8Array | string): void; digest(): Hash } {
  const h = createHash(algo);
  return {
    update(chunk) {
      h.update(typeof chunk === "string" && hasEscapedBytes(chunk) ? encodeEscapedBytes(chunk) : chunk);
    },
    digest() {
      return new Hash(algo, new Uint8Array(h.digest()));
    },
  };
}

/** Nix's compressHash: XOR-folds a digest into `size` bytes. */
export function compressHash(digest: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < digest.length; i++) out[i % size] ^= digest[i];
  return out;
}
