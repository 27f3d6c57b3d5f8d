// ed25519 signatures in Nix's formats: keys and signatures are "name:base64".
// Secret keys are 64 bytes (seed + public key), as written by
// `nix-store --generate-binary-cache-key`.
import type { KeyObject } from "node:crypto";
import { lazyModule } from "./lazy-module";
import { NarInfo, narInfoFingerprint } from "./narinfo";
import { DEFAULT_STORE_DIR } from "./store-path";

// node:crypto takes ~10 ms to load: only runs that sign or check signatures do
const nodeCrypto = () => lazyModule<typeof import("node:crypto")>("node:crypto");

export interface SecretKey { name: string; key: KeyObject; publicKey: Uint8Array }
export interface PublicKey { name: string; key: KeyObject; raw: Uint8Array }

const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url");

function splitNamed(s: string, what: string): [string, Uint8Array] {
  const t = s.trim();
  const colon = t.indexOf(":");
  if (colon <= 0) throw new Error(`${what} '${t.slice(0, 40)}' is not of the form name:base64`);
  const data = t.slice(colon + 1);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw new Error(`${what} '${t.slice(0, colon)}' has invalid base64`);
  return [t.slice(0, colon), new Uint8Array(Buffer.from(data, "base64"))];
}

export function parseSecretKey(s: string): SecretKey {
  const [name, raw] = splitNamed(s, "secret key");
  if (raw.length !== 64) throw new Error(`secret key '${name}' must be 64 bytes, got ${raw.length}`);
  const seed = raw.subarray(0, 32);
  const pub = raw.subarray(32);
  const key = nodeCrypto().createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: b64url(seed), x: b64url(pub) }, format: "jwk" });
  return { name, key, publicKey: pub };
}

export function parsePublicKey(s: string): PublicKey {
  const [name, raw] = splitNamed(s, "public key");
  if (raw.length !== 32) throw new Error(`public key '${name}' must be 32 bytes, got ${raw.length}`);
  const key = nodeCrypto().createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(raw) }, format: "jwk" });
  return { name, key, raw };
}

/** A new key pair in Nix's text formats. */
export function generateSigningKeyPair(name: string): { secretKey: string; publicKey: string } {
  const { privateKey, publicKey } = nodeCrypto().generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d!, "base64url");
  const pub = Buffer.from(jwk.x!, "base64url");
  void publicKey;
  return { secretKey: `${name}:${Buffer.concat([seed, pub]).toString("base64")}`, publicKey: `${name}:${pub.toString("base64")}` };
}

export function publicKeyOf(sk: SecretKey): string {
  return `${sk.name}:${Buffer.from(sk.publicKey).toString("base64")}`;
}

/** "name:base64(signature)" over `message`. */
export function signDetached(key: SecretKey, message: string | Uint8Array): string {
  return `${key.name}:${nodeCrypto().sign(null, Buffer.from(message), key.key).toString("base64")}`;
}

/** True if `sig` is a valid signature of `message` by one of `keys` (matched by name). */
export function verifyDetached(keys: readonly PublicKey[], message: string | Uint8Array, sig: string): boolean {
  const colon = sig.indexOf(":");
  if (colon <= 0) return false;
  const name = sig.slice(0, colon);
  const data = Buffer.from(sig.slice(colon + 1), "base64");
  if (data.length !== 64) return false;
  return keys.some((k) => k.name === name && nodeCrypto().verify(null, Buffer.from(message), k.key, data));
}

export function narInfoFingerprintOf(ni: NarInfo, storeDir: string = DEFAULT_STORE_DIR): string {
  return narInfoFingerprint(storeDir, ni.storePath, ni.narHash, ni.narSize, ni.references);
}

/** Adds (or replaces) this key's signature on a narinfo. */
export function signNarInfo(ni: NarInfo, key: SecretKey, storeDir: string = DEFAULT_STORE_DIR): void {
  const sig = signDetached(key, narInfoFingerprintOf(ni, storeDir));
  ni.sigs = [...ni.sigs.filter((s) => !s.startsWith(key.name + ":")), sig];
}

/** The number of valid signatures by trusted keys. */
export function verifyNarInfoSignatures(ni: NarInfo, keys: readonly PublicKey[], storeDir: string = DEFAULT_STORE_DIR): number {
  const fp = narInfoFingerprintOf(ni, storeDir);
  return ni.sigs.filter((s) => verifyDetached(keys, fp, s)).length;
}
