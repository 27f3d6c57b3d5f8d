// Derivations and path infos as Nix 2.26's JSON (`nix derivation show`,
// `nix path-info --json`): objects keyed by store path, keys sorted,
// hashes of path infos in SRI form.
import type { Derivation } from "./derivation";
import { decodeNixBase32 } from "./nixbase32";

/** `nix derivation show`'s value for one derivation. */
export function derivationToJson(drv: Derivation, name: string): Record<string, unknown> {
  const outputs: Record<string, Record<string, string>> = {};
  for (const [o, out] of [...drv.outputs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const j: Record<string, string> = {};
    if (out.hashAlgo) {
      // "r:sha256" is a NAR hash, "text:sha256" text, plain "sha256" flat
      const m = /^(r:|text:)?(.*)$/.exec(out.hashAlgo)!;
      if (out.hash) j.hash = out.hash;
      j.hashAlgo = m[2];
      j.method = m[1] === "r:" ? "nar" : m[1] === "text:" ? "text" : "flat";
    }
    if (out.path) j.path = out.path;
    outputs[o] = j;
  }
  const inputDrvs: Record<string, unknown> = {};
  for (const p of [...drv.inputDrvs.keys()].sort()) inputDrvs[p] = { dynamicOutputs: {}, outputs: [...drv.inputDrvs.get(p)!].sort() };
  return {
    args: drv.args,
    builder: drv.builder,
    env: Object.fromEntries([...drv.env].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    inputDrvs,
    inputSrcs: [...drv.inputSrcs].sort(),
    name,
    outputs,
    system: drv.system,
  };
}

/** "sha256:<nixbase32 or hex>" (or SRI already) as SRI: "sha256-<base64>". */
export function toSri(hash: string): string {
  if (/^[a-z0-9]+-[A-Za-z0-9+/=]+$/.test(hash)) return hash;
  const m = /^(md5|sha1|sha256|sha512):(.+)$/.exec(hash);
  if (!m) return hash;
  const [, algo, digest] = m;
  const size = { md5: 16, sha1: 20, sha256: 32, sha512: 64 }[algo as "md5"];
  let bytes: Uint8Array;
  if (digest.length === size * 2 && /^[0-9a-f]+$/.test(digest)) bytes = Buffer.from(digest, "hex");
  else bytes = decodeNixBase32(digest);
  return `${algo}-${Buffer.from(bytes).toString("base64")}`;
}

/** Nix's human-readable sizes (-h): "%6.1f KiB" and up. */
export function humanSize(bytes: number): string {
  const units = "KMGTPE";
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1).padStart(6)} ${units[i]}iB`;
}
