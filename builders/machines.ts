// Remote build machines, in Nix's `builders` format: machines separated by
// newlines or `;`, `#` comments, `@FILE` includes a machines file; each
// machine is
//
//   URI [SYSTEMS [SSH-KEY [MAX-JOBS [SPEED-FACTOR [SUPPORTED-FEATURES [MANDATORY-FEATURES [PUBLIC-HOST-KEY]]]]]]]
//
// with `-` for a default: SYSTEMS (comma-separated) this machine's system,
// MAX-JOBS 1, SPEED-FACTOR 1, features (comma-separated) none, the key and
// host key none (the host key is base64 of its OpenSSH public key line). A
// URI without a scheme is an ssh:// host, as in Nix.
import { readFileSync } from "node:fs";
import { SettingsError } from "./settings";

export interface Machine {
  /** The store URL as written (ssh-ng://host, unix:///socket...). */
  storeUri: string;
  systems: string[];
  sshKey?: string;
  maxJobs: number;
  speedFactor: number;
  supportedFeatures: string[];
  mandatoryFeatures: string[];
  /** base64 of the host's OpenSSH public key line. */
  publicHostKey?: string;
}

/** Parses a `builders` value; `@FILE` lines read that file (which must exist). */
export function parseMachines(spec: string, thisSystem: string, readFile: (p: string) => string = (p) => readFileSync(p, "utf8")): Machine[] {
  const out: Machine[] = [];
  for (const raw of spec.split(/[\n;]/)) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    if (line.startsWith("@")) {
      const file = line.slice(1).trim();
      let text: string;
      try {
        text = readFile(file);
      } catch (e) {
        throw new SettingsError(`cannot read the machines file '${file}': ${(e as Error).message}`);
      }
      out.push(...parseMachines(text, thisSystem, readFile));
      continue;
    }
    const t = line.split(/\s+/);
    const set = (i: number) => t[i] !== undefined && t[i] !== "" && t[i] !== "-";
    const count = (i: number, what: string, dflt: number, positive: boolean): number => {
      if (!set(i)) return dflt;
      const v = Number(t[i]);
      if (!/^\d+(\.\d+)?$/.test(t[i]) || (positive ? !(v > 0) : !Number.isInteger(v)))
        throw new SettingsError(`machine '${t[0]}': ${what} must be a ${positive ? "positive " : "whole "}number, not '${t[i]}'`);
      return v;
    };
    const list = (i: number) => (set(i) ? t[i].split(",").filter(Boolean) : []);
    if (t.length > 8) throw new SettingsError(`machine '${t[0]}': too many fields (${t.length}; at most 8)`);
    const uri = t[0].includes("://") ? t[0] : `ssh://${t[0]}`;
    const mandatory = list(6);
    out.push({
      storeUri: uri,
      systems: set(1) ? list(1) : [thisSystem],
      sshKey: set(2) ? t[2] : undefined,
      maxJobs: count(3, "the maximum number of jobs", 1, false),
      speedFactor: count(4, "the speed factor", 1, true),
      // mandatory features are supported too
      supportedFeatures: [...new Set([...list(5), ...mandatory])],
      mandatoryFeatures: mandatory,
      publicHostKey: set(7) ? t[7] : undefined,
    });
  }
  return out;
}

/** Whether a machine takes a build for `system` needing `features` (Nix's rule: all supported, all mandatory ones required). */
export function machineFits(m: Machine, system: string, features: readonly string[]): boolean {
  if (system !== "builtin" && !m.systems.includes(system)) return false;
  if (!features.every((f) => m.supportedFeatures.includes(f))) return false;
  return m.mandatoryFeatures.every((f) => features.includes(f));
}

/** "ssh-ng://a (x86_64-linux; 2 jobs; features: big-parallel)", for messages. */
export function describeMachine(m: Machine): string {
  const f = m.supportedFeatures.length ? m.supportedFeatures.join(",") : "none";
  const mand = m.mandatoryFeatures.length ? `; mandatory: ${m.mandatoryFeatures.join(",")}` : "";
  return `${m.storeUri.replace(/\?.*/, "")} (${m.systems.join(",")}; ${m.maxJobs} job${m.maxJobs === 1 ? "" : "s"}; features: ${f}${mand})`;
}

/**
 * The URL to open a machine's store with: its ssh key and host key become
 * the ssh-ng:// parameters Nix uses (unless the URI sets them), and at most
 * max-jobs connections are kept.
 */
export function machineStoreUrl(m: Machine): string {
  const scheme = m.storeUri.slice(0, m.storeUri.indexOf("://"));
  if (scheme === "ssh") throw new SettingsError(`not implemented: ssh:// builders (the 'nix-store --serve' protocol) in '${m.storeUri}'; use ssh-ng://`);
  if (scheme !== "ssh-ng" && scheme !== "unix") throw new SettingsError(`cannot build on '${m.storeUri}': remote builders must be ssh-ng:// or unix:// stores`);
  const extra: [string, string][] = [];
  const has = (k: string) => new RegExp(`[?&]${k}=`).test(m.storeUri);
  if (scheme === "ssh-ng") {
    if (m.sshKey && !has("ssh-key")) extra.push(["ssh-key", m.sshKey]);
    if (m.publicHostKey && !has("base64-ssh-public-host-key")) extra.push(["base64-ssh-public-host-key", m.publicHostKey]);
  }
  if (!has("max-connections")) extra.push(["max-connections", String(Math.max(1, m.maxJobs))]);
  if (extra.length === 0) return m.storeUri;
  const q = extra.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  return m.storeUri + (m.storeUri.includes("?") ? "&" : "?") + q;
}
