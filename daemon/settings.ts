// The daemon's settings, named as in nix.conf: who may connect and who is
// trusted, which keys make a path trusted, substituters, and the garbage
// collector's keep-* rules. They are part of the one configuration
// (core/config.ts), to which the daemon adds its own file (`--config`,
// default $TVIX_HOME/daemon.conf when it exists) before NIX_CONFIG and
// `--option NAME VALUE`.
import { Settings } from "../core/config";
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

/** The settings with nothing configured. */
export function defaultSettings(): DaemonSettings {
  return daemonSettingsFrom(new Settings(new Map()));
}

/** The daemon's settings of a configuration (cmd/settings.ts reads it, with daemon.conf or --config). */
export function daemonSettingsFrom(c: Settings): DaemonSettings {
  return {
    trustedUsers: c.list("trusted-users"),
    allowedUsers: c.list("allowed-users"),
    trustedPublicKeys: c.list("trusted-public-keys"),
    requireSigs: c.bool("require-sigs"),
    substituters: c.list("substituters"),
    trustedSubstituters: c.list("trusted-substituters"),
    keepOutputs: c.bool("keep-outputs"),
    keepDerivations: c.bool("keep-derivations"),
  };
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
