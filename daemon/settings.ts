// The daemon's settings, named as in nix.conf: who may connect and who is
// trusted, which keys make a path trusted, substituters, and the garbage
// collector's keep-* rules. They come from a nix.conf-style file
// (`--config`, default $TVIX_HOME/daemon.conf when it exists) and from
// `--option NAME VALUE` / the named flags, later ones winning.
import { readFileSync } from "node:fs";
import type { Peer } from "./peer";

export interface DaemonSettings {
  trustedUsers: string[];
  allowedUsers: string[];
  trustedPublicKeys: string[];
  requireSigs: boolean;
  substituters: string[];
  trustedSubstituters: string[];
  keepOutputs: boolean;
  keepDerivations: boolean;
}

export function defaultSettings(): DaemonSettings {
  return {
    trustedUsers: ["root"],
    allowedUsers: ["*"],
    trustedPublicKeys: [],
    requireSigs: true,
    substituters: [],
    trustedSubstituters: [],
    keepOutputs: false,
    keepDerivations: true,
  };
}

const words = (v: string) => v.split(/\s+/).filter((w) => w !== "");

function bool(name: string, v: string): boolean {
  if (v === "true") return true;
  if (v === "false") return false;
  throw new Error(`setting '${name}' must be true or false, got '${v}'`);
}

/** Settings a client may not change unless trusted (all of these). */
export const SETTING_NAMES = [
  "trusted-users",
  "allowed-users",
  "trusted-public-keys",
  "require-sigs",
  "substituters",
  "extra-substituters",
  "trusted-substituters",
  "keep-outputs",
  "keep-derivations",
] as const;

/** Applies one setting by its nix.conf name; false when the name is not one of ours. */
export function applySetting(s: DaemonSettings, name: string, value: string): boolean {
  switch (name) {
    case "trusted-users":
      s.trustedUsers = words(value);
      return true;
    case "allowed-users":
      s.allowedUsers = words(value);
      return true;
    case "trusted-public-keys":
      s.trustedPublicKeys = words(value);
      return true;
    case "extra-trusted-public-keys":
      s.trustedPublicKeys = [...s.trustedPublicKeys, ...words(value)];
      return true;
    case "require-sigs":
      s.requireSigs = bool(name, value);
      return true;
    case "substituters":
      s.substituters = words(value);
      return true;
    case "extra-substituters":
      s.substituters = [...s.substituters, ...words(value)];
      return true;
    case "trusted-substituters":
      s.trustedSubstituters = words(value);
      return true;
    case "keep-outputs":
      s.keepOutputs = bool(name, value);
      return true;
    case "keep-derivations":
      s.keepDerivations = bool(name, value);
      return true;
    default:
      return false;
  }
}

/** Parses nix.conf lines ("name = value", '#' comments); unknown names are reported through `warn`. */
export function applyConfigText(s: DaemonSettings, text: string, where: string, warn: (m: string) => void): void {
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`${where}:${i + 1}: expected 'name = value'`);
    const name = line.slice(0, eq).trim();
    if (!applySetting(s, name, line.slice(eq + 1).trim())) warn(`unknown setting '${name}' in ${where}`);
  });
}

export function applyConfigFile(s: DaemonSettings, path: string, warn: (m: string) => void): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read daemon config '${path}': ${(e as Error).message}`);
  }
  applyConfigText(s, text, path, warn);
}

/** Whether `peer` matches a list of users and @groups ("*" matches anyone, even an unknown peer). */
export function matchesUsers(list: readonly string[], peer: Peer | null): boolean {
  for (const entry of list) {
    if (entry === "*") return true;
    if (!peer) continue;
    if (entry.startsWith("@")) {
      if (peer.groups.includes(entry.slice(1))) return true;
    } else if (entry === peer.user) return true;
  }
  return false;
}
