// Entry points behind `tvix store daemon`, `tvix store gc` and `tvix store
// roots`: open the store with its file system root, settings and
// substituters, then serve it, or run the collector on it directly.
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { NixStore } from "../stores/types";
import { pidAlive } from "../stores/gc-roots";
import type { GcAction, GcResult } from "../stores/gc";
import { ServedStore, OpError } from "./served-store";
import { type DaemonSettings, applyConfigFile, applySetting, defaultSettings } from "./settings";
import { DaemonServer } from "./server";
import type { Builder } from "./builder";

export interface OpenOptions {
  storeUrl?: string;
  /** File system root for the real files and state; default: the local store's, else $TVIX_HOME/daemon-root. */
  root?: string;
  config?: string;
  /** NAME=VALUE settings, applied after the config file. */
  options?: string[];
  /** The CLI's configuration (tvix.conf, NIX_CONFIG, --option): the remote-build settings of builds. */
  configuration?: (name: string) => string;
  warn: (m: string) => void;
}

export async function loadSettings(o: OpenOptions, tvixHome: string): Promise<DaemonSettings> {
  const s = defaultSettings();
  const cfg = o.config ?? join(tvixHome, "daemon.conf");
  if (o.config || existsSync(cfg)) applyConfigFile(s, cfg, o.warn);
  for (const kv of o.options ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new Error(`--option expects NAME=VALUE, got '${kv}'`);
    const name = kv.slice(0, eq).trim();
    if (!applySetting(s, name, kv.slice(eq + 1).trim())) o.warn(`unknown setting '${name}'`);
  }
  return s;
}

export async function openServedStore(o: OpenOptions, builder?: Builder): Promise<ServedStore> {
  await import("../stores/backends");
  const { openStore, defaultStoreUrl, tvixHome } = await import("../stores/url");
  const { LocalStore } = await import("../stores/local");
  const settings = await loadSettings(o, tvixHome());
  const store = await openStore(o.storeUrl ?? defaultStoreUrl());
  const root = o.root ? resolve(o.root) : store instanceof LocalStore ? store.fsRoot : join(tvixHome(), "daemon-root");
  const substituters: NixStore[] = [];
  try {
    for (const u of settings.substituters) substituters.push(await openStore(u, { storeDir: store.storeDir }));
  } catch (e) {
    await Promise.allSettled([store.close(), ...substituters.map((s) => s.close())]);
    throw new Error(`cannot open substituter: ${(e as Error).message}`);
  }
  return new ServedStore({ store, fsRoot: root, settings, substituters, builder: builder ?? (await buildsThrough(store, settings, openStore, o.configuration)) });
}

/**
 * The builder for a served store: builders/ with the build settings of
 * `tvix build` (config file), the daemon's substituters and keys. Builds
 * need a castore-backed store; others answer that they cannot build.
 */
async function buildsThrough(
  store: NixStore,
  settings: DaemonSettings,
  openStore: (url: string, o?: { storeDir?: string }) => Promise<NixStore>,
  configuration: ((name: string) => string) | undefined,
): Promise<Builder | undefined> {
  const { CastoreNixStore } = await import("../stores/castore-store");
  if (!(store instanceof CastoreNixStore)) return undefined;
  const { loadSettings: loadBuildSettings, withRemoteSettings } = await import("../builders/settings");
  const { sessionBuilder } = await import("./session-builder");
  const { tvixHome } = await import("../stores/url");
  const local = loadBuildSettings();
  const build = configuration ? withRemoteSettings(local, configuration) : local;
  return sessionBuilder({
    store,
    settings: { ...build, substituters: settings.substituters, trustedPublicKeys: settings.trustedPublicKeys, requireSigs: settings.requireSigs },
    logDir: join(tvixHome(), "log"),
    openStore: (url) => openStore(url, { storeDir: store.storeDir }),
  });
}

/** The file naming the daemon serving a store, so that others do not collect under it. */
function pidFile(s: ServedStore): string | null {
  return s.stateDir && join(s.stateDir, "daemon-pid");
}

/** The pid and socket of a live daemon serving this store, if any. */
export function runningDaemon(s: ServedStore): { pid: number; socket: string } | null {
  const f = pidFile(s);
  if (!f || !existsSync(f)) return null;
  const [pid, socket] = readFileSync(f, "utf8").split("\n");
  return pidAlive(Number(pid)) && Number(pid) !== process.pid ? { pid: Number(pid), socket } : null;
}

export interface DaemonRunOptions extends OpenOptions {
  listen?: string;
  stdio?: boolean;
  forceTrusted?: boolean;
  verbose?: boolean;
  nixVersion: string;
  log: (m: string) => void;
}

/** Runs the daemon until SIGTERM/SIGINT (socket) or the client leaves (stdio). */
export async function runDaemon(o: DaemonRunOptions, builder?: Builder): Promise<void> {
  const { tvixHome } = await import("../stores/url");
  const store = await openServedStore(o, builder);
  const other = runningDaemon(store);
  if (other && !o.stdio) {
    await store.close();
    throw new Error(`a daemon (pid ${other.pid}) already serves this store on '${other.socket}'`);
  }
  const server = new DaemonServer({ store, nixVersion: o.nixVersion, forceTrusted: o.forceTrusted, log: o.log, verbose: o.verbose });
  // the daemon keeps serving whatever one connection's failure was
  const internal = (e: unknown) => o.log(`internal error: ${(e as Error)?.stack ?? String(e)}`);
  process.on("uncaughtException", internal);
  process.on("unhandledRejection", internal);
  if (o.stdio) {
    await server.serveStdio();
    await store.close();
    return;
  }
  const path = o.listen ? socketPathOf(o.listen) : join(tvixHome(), "daemon-socket", "socket");
  await server.listen(path);
  const pf = pidFile(store);
  if (pf) {
    mkdirSync(join(pf, ".."), { recursive: true });
    writeFileSync(pf, `${process.pid}\n${path}\n`);
  }
  const rootQuery = store.view ? `?root=${store.view.dir.slice(0, store.view.dir.length - store.storeDir.length) || "/"}` : "";
  o.log(`serving '${store.store.url}' on '${path}' (clients: --store 'unix://${path}${rootQuery}')`);
  let stopping = false;
  let onTerm = () => {};
  let onInt = () => {};
  await new Promise<void>((resolveStop) => {
    const stop = (sig: string) => {
      if (stopping) return; // a second signal does not cut the drain short
      stopping = true;
      o.log(`${sig}: finishing running operations...`);
      server.shutdown().then(resolveStop, (e) => (o.log(`shutdown: ${(e as Error).message}`), resolveStop()));
    };
    onTerm = () => stop("SIGTERM");
    onInt = () => stop("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
  });
  process.off("SIGTERM", onTerm);
  process.off("SIGINT", onInt);
  if (pf) rmSync(pf, { force: true });
  process.off("uncaughtException", internal);
  process.off("unhandledRejection", internal);
}

/** "unix:///path" or a plain path. */
export function socketPathOf(listen: string): string {
  if (listen.startsWith("unix://")) {
    const p = decodeURIComponent(listen.slice("unix://".length).replace(/\?.*$/, ""));
    if (!p.startsWith("/")) throw new Error(`--listen needs an absolute socket path, got '${listen}'`);
    return p;
  }
  if (listen.includes("://")) throw new Error(`--listen supports unix:///path only, got '${listen}'`);
  return resolve(listen);
}

/** `tvix store gc` on a store directly (refused while a daemon serves it: it holds temp roots in memory). */
export async function runGc(o: OpenOptions & { action: GcAction; paths?: string[]; maxFreed?: number; log: (m: string) => void }): Promise<GcResult> {
  const store = await openServedStore(o);
  try {
    const d = runningDaemon(store);
    if (d) throw new OpError(`a daemon (pid ${d.pid}) serves this store: collect through it (tvix store gc --store unix://${d.socket})`);
    return await store.collectGarbage({ action: o.action, paths: o.paths, maxFreed: o.maxFreed }, o.log);
  } finally {
    await store.close();
  }
}

/** `tvix store roots`: link -> store path pairs. */
export async function listRoots(o: OpenOptions & { log: (m: string) => void }): Promise<[string, string][]> {
  const store = await openServedStore(o);
  try {
    const roots = await store.findRoots(o.log);
    const pairs: [string, string][] = [];
    for (const [p, links] of roots) for (const l of links) pairs.push([l, p]);
    return pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  } finally {
    await store.close();
  }
}
