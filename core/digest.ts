// Message digests (md5, sha1, sha256, sha512) for the rest of the program.
//
// Loading node:crypto costs ~10 ms at every start-up (its module pulls in
// the key, cipher, pbkdf2, hkdf... modules), a fifth of an `eval -E 1`.
// The digests themselves are OpenSSL's, reached through the crypto binding,
// which loads no JavaScript. Its Hash constructor is internal API: it is
// used on Node 20 only, where its arguments are known (this file's test
// checks it against node:crypto). Other Nodes (the binary's Node 24 has no
// process.binding("crypto")) hash short sha256 inputs in JavaScript
// (core/sha256-js.ts: the parse cache's keys, hashed at every start) and
// load node:crypto once an input outgrows that, or for anything else.

import { lazyModule } from "./lazy-module";
import { nodeBinding } from "./node-binding";
import { sha256 } from "./sha256-js";

export type BinaryToText = "hex" | "base64" | "latin1";

export interface Digest {
  update(data: Uint8Array | string): Digest;
  digest(): Buffer;
  digest(enc: BinaryToText): string;
}

interface BindingHash {
  update(data: Uint8Array | string, enc?: string): boolean;
  digest(enc?: string): Buffer | string;
}
type BindingHashClass = new (algo: string, xofLen: undefined, cacheId: number, cache: object) => BindingHash;

let bindingHash: BindingHashClass | null | undefined;
let aliases: object = {};

function binding(): BindingHashClass | null {
  if (bindingHash !== undefined) return bindingHash;
  bindingHash = null;
  if (process.versions.node.split(".")[0] === "20") {
    const b = nodeBinding<{ Hash: BindingHashClass; getCachedAliases: () => object }>("crypto");
    if (typeof b?.Hash === "function") {
      aliases = typeof b.getCachedAliases === "function" ? b.getCachedAliases() : {};
      bindingHash = b.Hash;
    }
  }
  return bindingHash;
}

const ALGOS = new Set(["md5", "sha1", "sha256", "sha512"]);

/** The checks and overloads both digest kinds share: inputs checked, one digest() only. */
abstract class CheckedDigest implements Digest {
  private done = false;
  protected abstract add(data: Uint8Array | string): void;
  protected abstract finish(enc?: BinaryToText): Buffer | string;
  update(data: Uint8Array | string): Digest {
    if (this.done) throw new Error("digest already finalised");
    // (the binding checks its arguments with assertions that abort the process)
    if (typeof data !== "string" && !ArrayBuffer.isView(data)) throw new TypeError("digest input must be a string or bytes");
    this.add(data);
    return this;
  }
  digest(): Buffer;
  digest(enc: BinaryToText): string;
  digest(enc?: BinaryToText): Buffer | string {
    if (this.done) throw new Error("digest already finalised");
    this.done = true;
    return this.finish(enc);
  }
}

class BindingDigest extends CheckedDigest {
  constructor(private readonly h: BindingHash) {
    super();
  }
  protected add(data: Uint8Array | string): void {
    if (!this.h.update(data)) throw new Error("digest update failed");
  }
  protected finish(enc?: BinaryToText): Buffer | string {
    return this.h.digest(enc) as Buffer | string;
  }
}

function nodeCryptoHash(algo: string): Digest {
  return lazyModule<typeof import("node:crypto")>("node:crypto").createHash(algo) as unknown as Digest;
}

/** Input held up to this size is hashed in JavaScript; past it, by node:crypto. */
const SMALL_INPUT = 16 * 1024;

/** sha256 that buffers short input and hashes it in JavaScript, handing longer input to node:crypto. */
class SmallFirstSha256 extends CheckedDigest {
  private pending: Uint8Array[] | null = [];
  private size = 0;
  private real: Digest | null = null;
  protected add(data: Uint8Array | string): void {
    if (this.real) {
      this.real.update(data);
      return;
    }
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.size += bytes.length;
    if (this.size > SMALL_INPUT) {
      this.real = nodeCryptoHash("sha256");
      for (const p of this.pending!) this.real.update(p);
      this.real.update(bytes);
      this.pending = null;
    } else this.pending!.push(typeof data === "string" ? bytes : bytes.slice());
  }
  protected finish(enc?: BinaryToText): Buffer | string {
    if (this.real) return enc ? this.real.digest(enc) : this.real.digest();
    const parts = this.pending!;
    const d = Buffer.from(sha256(parts.length === 1 ? parts[0] : Buffer.concat(parts)));
    return enc ? d.toString(enc) : d;
  }
}

export function createHash(algo: string): Digest {
  if (!ALGOS.has(algo)) throw new Error(`unsupported digest '${algo}'`);
  const B = binding();
  if (B !== null) return new BindingDigest(new B(algo, undefined, -1, aliases));
  if (algo === "sha256") return new SmallFirstSha256();
  return nodeCryptoHash(algo);
}

/** Whether digests come from the binding (for tests). */
export function digestsFromBinding(): boolean {
  return binding() !== null;
}

/**
 * Random hex for temporary file names (with the pid beside it: unique); not
 * for secrets. Math.random, as node:crypto's randomBytes would load it.
 */
export function tempTag(bytes = 4): string {
  let s = "";
  for (let i = 0; i < bytes; i++) s += ((Math.random() * 256) | 0).toString(16).padStart(2, "0");
  return s;
}
