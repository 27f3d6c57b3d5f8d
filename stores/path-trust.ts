// Whether a store path's metadata can be trusted: a valid signature by one of
// the trusted keys, or a content address that really yields the path (as
// Nix's ValidPathInfo::checkSignatures / isContentAddressed).
import { Hash } from "../core/hash";
import { narInfoFingerprint } from "../core/narinfo";
import { PublicKey, verifyDetached } from "../core/signing";
import { StorePath, makeFixedOutputPath, makeTextPath } from "../core/store-path";
import type { NixPathInfo } from "./types";

export function validSignatureCount(info: NixPathInfo, keys: readonly PublicKey[], storeDir: string): number {
  const fp = narInfoFingerprint(storeDir, info.storePath, Hash.parse(info.narHash), info.narSize, info.references);
  return info.signatures.filter((s) => verifyDetached(keys, fp, s)).length;
}

/** True when `info.ca` is present and the store path is the one it determines. */
export function isContentAddressed(info: NixPathInfo, storeDir: string): boolean {
  if (!info.ca) return false;
  try {
    const sp = StorePath.parseAbsolute(info.storePath, storeDir);
    const self = info.references.includes(info.storePath);
    const refs = info.references.filter((r) => r !== info.storePath);
    let computed: StorePath;
    if (info.ca.startsWith("text:")) {
      if (self) return false;
      computed = makeTextPath(sp.name, Hash.parse(info.ca.slice(5)), refs, storeDir);
    } else if (info.ca.startsWith("fixed:r:")) {
      computed = makeFixedOutputPath(sp.name, Hash.parse(info.ca.slice(8)), true, refs, storeDir, self);
    } else if (info.ca.startsWith("fixed:")) {
      computed = makeFixedOutputPath(sp.name, Hash.parse(info.ca.slice(6)), false, refs, storeDir, self);
    } else return false;
    return computed.equals(sp);
  } catch {
    return false;
  }
}

/** Throws unless the path is signed by a trusted key or content-addressed. */
export function checkTrusted(info: NixPathInfo, keys: readonly PublicKey[], storeDir: string, source: string): void {
  if (isContentAddressed(info, storeDir)) return;
  if (validSignatureCount(info, keys, storeDir) > 0) return;
  throw new Error(
    `cannot add path '${info.storePath}' (from '${source}') because it lacks a signature by a trusted key ` +
      `(${info.signatures.length} signature(s) present; use --trusted-public-keys, or --no-check-sigs to skip this check)`,
  );
}
