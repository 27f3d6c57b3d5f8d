// Store URLs: `openStore(url)` picks a backend by scheme. Backends register
// themselves (stores/backends.ts imports them all), so this module stays free
// of their dependencies.
import { homedir } from "node:os";
import { join } from "node:path";
import type { NixStore } from "./types";
import { DEFAULT_STORE_DIR } from "../core/store-path";

export interface StoreOptions {
  /** The Nix store directory paths live under (default /nix/store). */
  storeDir: string;
}

export type StoreOpener = (url: URL, raw: string, opts: StoreOptions) => Promise<NixStore>;

const openers = new Map<string, StoreOpener>();

/** Registers a backend for a URL scheme, without the colon ("file", "s3", "memory"...). */
export function registerStoreScheme(scheme: string, opener: StoreOpener): void {
  openers.set(scheme, opener);
}

export class StoreUrlError extends Error {}

/** $TVIX_HOME, default ~/.local/share/tvix: where the embedded default store lives. */
export function tvixHome(): string {
  return process.env.TVIX_HOME || join(process.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "tvix");
}

/** The store URL used when none is given: --store, then $TVIX_STORE, then the local default. */
export function defaultStoreUrl(): string {
  return process.env.TVIX_STORE || `local://${tvixHome()}/store`;
}

export async function openStore(raw: string = defaultStoreUrl(), opts: Partial<StoreOptions> = {}): Promise<NixStore> {
  let url: URL;
  // Bare paths mean a local store at that directory.
  if (raw.startsWith("/")) raw = `local://${raw}`;
  // Nix's bare "daemon" means the default nix-daemon socket
  if (raw === "daemon") raw = "daemon://";
  if (raw === "auto") throw new StoreUrlError("not implemented: the 'auto' store URL (use daemon, local:///path or a URL)");
  try {
    url = new URL(raw);
  } catch {
    throw new StoreUrlError(`invalid store URL '${raw}'`);
  }
  const scheme = url.protocol.replace(/:$/, "");
  const opener = openers.get(scheme);
  if (!opener) {
    const known = [...openers.keys()].sort().map((s) => `${s}://`).join(", ");
    throw new StoreUrlError(`unsupported store URL scheme '${scheme}://' in '${raw}' (supported: ${known || "none"})`);
  }
  return opener(url, raw, { storeDir: opts.storeDir ?? (url.searchParams.get("store") || DEFAULT_STORE_DIR) });
}
