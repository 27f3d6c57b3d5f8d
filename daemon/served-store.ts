// What the daemon serves: a NixStore (any store URL) plus what C++ Nix's
// local store has around it: the paths as real files under the root
// (stores/fs-view.ts, kept in step: a path is on disk before it is
// answered as valid), garbage collector roots and temp roots
// (stores/gc-roots.ts, stores/gc.ts), build logs and realisations under
// the state directory, signature checks on additions, substituters, and
// the builder. The operations (daemon/ops.ts) call these methods; a method
// the store behind cannot support throws an error saying so.
import { chmodSync, readFileSync, writeFileSync, renameSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempTag } from "../core/digest";
import { Hash, createHasher } from "../core/hash";
import { StorePath, BadStorePath } from "../core/store-path";
import { type Derivation } from "../core/derivation";
import { type BasicDerivation, type DerivedPath, type Realisation, realisationFromJson, realisationToJson } from "../core/daemon-protocol";
import { type PublicKey, parsePublicKey } from "../core/signing";
import { type NixPathInfo, type NixStore, canAddSignatures, canLookUpHashParts, canRemovePaths } from "../stores/types";
import { RealStoreDir, type StagedTree } from "../stores/fs-view";
import { CastoreNixStore } from "../stores/castore-store";
import { ChunkedBlobService } from "../stores/blob-service";
import { narTreeOfBuffer, type NarNode } from "../core/nar";
import { BLOB_HASHER_MAX, BlobHasher, type BlobHashes } from "../stores/blob-hasher";
import { GcRoots, type Roots, type TempRootsFile } from "../stores/gc-roots";
import { type GcOptions, type GcResult, collectGarbage } from "../stores/gc";
import { readDerivation } from "../stores/derivation-read";
import { isContentAddressed, validSignatureCount } from "../stores/path-trust";
import { caVerifier } from "../stores/ca-verify";
import { measureStream, tee } from "../stores/stream-util";
import { copyPaths } from "../stores/copy";
import { type DaemonSettings } from "./settings";
import { type Builder, noBuilder } from "./builder";
import { RwLock } from "./lock";
import { mkdirs } from "../stores/mkdirs";

/** An error the client caused or should see as is (sent as STDERR_ERROR). */
export class OpError extends Error {}

export interface ServedStoreOptions {
  store: NixStore;
  /** File system root for the real files and the state (null: neither, so no roots or GC). */
  fsRoot: string | null;
  settings: DaemonSettings;
  substituters?: NixStore[];
  builder?: Builder;
}

export interface AddOptions {
  repair?: boolean;
  /** Require a signature by a trusted key (or a content address) when require-sigs is on. */
  checkSigs: boolean;
  /** The adding client's temp roots: the new path joins them. */
  tempRoots?: TempRootsFile | null;
}

const INFO_CACHE_MAX = 200_000;
/** NARs in memory up to this size are written into the view by its own thread (see RealStoreDir.stageTreeOffThread()). */
const VIEW_THREAD_MAX = 1024 * 1024;

/** Drains a stream we will not use (the rest of a framed NAR, so the connection stays in step). */
export async function drain(s: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of s);
}

export class ServedStore {
  readonly store: NixStore;
  readonly storeDir: string;
  readonly view: RealStoreDir | null;
  readonly roots: GcRoots | null;
  readonly stateDir: string | null;
  readonly logDir: string | null;
  readonly settings: DaemonSettings;
  readonly substituters: NixStore[];
  builder: Builder;
  readonly lock = new RwLock();
  private trustedKeys: PublicKey[];
  private infoCache = new Map<string, NixPathInfo>();
  private onDisk = new Set<string>();
  private materialising = new Map<string, Promise<void>>();
  private drvOutputsCache = new Map<string, string[]>();

  constructor(opts: ServedStoreOptions) {
    this.store = opts.store;
    this.storeDir = opts.store.storeDir;
    this.settings = opts.settings;
    this.substituters = opts.substituters ?? [];
    this.builder = opts.builder ?? noBuilder;
    this.trustedKeys = opts.settings.trustedPublicKeys.map(parsePublicKey);
    if (opts.fsRoot && !process.env.TVIX_NO_VIEW) {
      this.view = new RealStoreDir(join(opts.fsRoot, this.storeDir));
      this.stateDir = join(opts.fsRoot, "nix", "var", "nix");
      this.logDir = join(opts.fsRoot, "nix", "var", "log", "nix");
      this.roots = new GcRoots(this.stateDir, this.storeDir);
      this.view.removeStrayTemps();
    } else {
      this.view = this.roots = this.stateDir = this.logDir = null;
    }
  }

  /**
   * Whether addNar() of a NAR in memory is done with its bytes when it
   * settles (the store keeps copies): then the caller may use them again.
   */
  get copiesNarsInMemory(): boolean {
    return this.store instanceof CastoreNixStore && storesBytesAtOnce(this.store);
  }

  /** Parses an absolute store path, with Nix's message for one outside the store. */
  parse(path: string): StorePath {
    try {
      return StorePath.parseAbsolute(path, this.storeDir);
    } catch (e) {
      if (e instanceof BadStorePath) throw new OpError(e.message);
      throw e;
    }
  }

  // ------------------------------------------------------------ queries

  /** A valid path's info (its files are on disk by the time this returns), or null. */
  async info(path: string): Promise<NixPathInfo | null> {
    const cached = this.infoCache.get(path);
    if (cached) return cached;
    this.parse(path);
    // a local store answers at once (no chain of promises per lookup)
    const now = this.store instanceof CastoreNixStore ? this.store.queryPathInfoNow(path) : undefined;
    const info = now !== undefined ? now : await this.store.queryPathInfo(path);
    if (!info) return null;
    await this.ensureOnDisk(path);
    if (this.infoCache.size >= INFO_CACHE_MAX) this.infoCache.clear();
    this.infoCache.set(path, info);
    return info;
  }

  async isValid(path: string): Promise<boolean> {
    return (await this.info(path)) !== null;
  }

  async requireInfo(path: string): Promise<NixPathInfo> {
    const info = await this.info(path);
    if (!info) throw new OpError(`path '${path}' is not valid`);
    return info;
  }

  /** Writes a valid path's files into the view unless they are there (or being written). */
  private async ensureOnDisk(path: string): Promise<void> {
    const view = this.view;
    if (!view || this.onDisk.has(path)) return;
    const pending = this.materialising.get(path);
    if (pending) return pending;
    if (view.has(path)) {
      this.onDisk.add(path);
      return;
    }
    const p = (async () => {
      const staged = await view.stage(path, this.store.narFromPath(path));
      staged.commit();
      this.onDisk.add(path);
    })();
    this.materialising.set(path, p);
    try {
      await p;
    } finally {
      this.materialising.delete(path);
    }
  }

  /** Writes a valid path's files again from the store (repair). */
  async rewriteOnDisk(path: string): Promise<void> {
    if (!this.view) return;
    const staged = await this.view.stage(path, this.store.narFromPath(path));
    staged.commit();
    this.onDisk.add(path);
  }

  async allValidPaths(): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const p of this.store.listPaths()) out.push(p);
    } catch (e) {
      throw new OpError(`cannot list the paths of store '${this.store.url}': ${(e as Error).message}`);
    }
    return out.sort();
  }

  /** Every valid path with its info (for referrers, derivers and the collector). */
  private async allInfos(): Promise<Map<string, NixPathInfo>> {
    const out = new Map<string, NixPathInfo>();
    for (const p of await this.allValidPaths()) {
      const i = await this.store.queryPathInfo(p);
      if (i) out.set(p, i);
    }
    return out;
  }

  async referrers(path: string): Promise<string[]> {
    this.parse(path);
    const out: string[] = [];
    for (const [p, i] of await this.allInfos()) if (i.references.includes(path)) out.push(p);
    return out.sort();
  }

  async pathFromHashPart(hashPart: string): Promise<string | null> {
    if (canLookUpHashParts(this.store)) {
      const p = await this.store.queryPathFromHashPart(hashPart);
      return p && (await this.isValid(p)) ? p : null;
    }
    for (const p of await this.allValidPaths()) if (p.slice(this.storeDir.length + 1, this.storeDir.length + 33) === hashPart) return p;
    return null;
  }

  async readDerivation(drvPath: string): Promise<Derivation> {
    this.parse(drvPath);
    if (!drvPath.endsWith(".drv")) throw new OpError(`path '${drvPath}' is not a derivation`);
    if (!(await this.isValid(drvPath))) throw new OpError(`path '${drvPath}' is not valid`);
    try {
      return await readDerivation(this.store, drvPath);
    } catch (e) {
      throw new OpError(`cannot read derivation '${drvPath}': ${(e as Error).message}`);
    }
  }

  /** Output name -> path ("" when it is not known before building, e.g. floating content-addressed). */
  async derivationOutputMap(drvPath: string): Promise<Map<string, string>> {
    const drv = await this.readDerivation(drvPath);
    const out = new Map<string, string>();
    for (const [name, o] of drv.outputs) out.set(name, o.path);
    return out;
  }

  private async drvOutputPaths(drvPath: string): Promise<string[]> {
    let outs = this.drvOutputsCache.get(drvPath);
    if (!outs) {
      try {
        outs = [...(await readDerivation(this.store, drvPath)).outputs.values()].map((o) => o.path).filter((p) => p);
      } catch {
        outs = [];
      }
      this.drvOutputsCache.set(drvPath, outs);
    }
    return outs;
  }

  /** The valid derivations that name `path` as an output. */
  async validDerivers(path: string): Promise<string[]> {
    this.parse(path);
    const out: string[] = [];
    for (const p of await this.allValidPaths()) if (p.endsWith(".drv") && (await this.drvOutputPaths(p)).includes(path)) out.push(p);
    return out;
  }

  // ------------------------------------------------------------ additions

  /** Throws Nix's refusal when a path needs a trusted signature and has none. */
  checkSignatures(info: NixPathInfo): void {
    if (!this.settings.requireSigs) return;
    if (isContentAddressed(info, this.storeDir)) return;
    if (validSignatureCount(info, this.trustedKeys, this.storeDir) > 0) return;
    throw new OpError(`cannot add path '${info.storePath}' because it lacks a valid signature`);
  }

  /**
   * Adds a path from its NAR (consumed in full either way). The NAR is
   * checked against the declared hash, size and content address while it
   * is written into the store and the view; the path becomes valid only if
   * all of that succeeds, and its files are in place before it is
   * answered as valid.
   */
  async addNar(info: NixPathInfo, input: AsyncIterable<Uint8Array> | Uint8Array | IncomingNar, opts: AddOptions): Promise<void> {
    // an IncomingNar had its checks fed while it was read: they are compared below, where a NAR in memory is hashed
    const incoming = input instanceof IncomingNar ? input : null;
    const nar = incoming ? incoming.bytes : (input as AsyncIterable<Uint8Array> | Uint8Array);
    const path = info.storePath;
    this.parse(path);
    let narHash: Hash;
    try {
      narHash = Hash.parse(info.narHash, "sha256");
    } catch (e) {
      throw new OpError(`invalid NAR hash for '${path}': ${(e as Error).message}`);
    }
    if (narHash.algo !== "sha256") throw new OpError(`NAR hash of '${path}' must be sha256`);
    for (const r of info.references) this.parse(r);
    if (info.deriver) this.parse(info.deriver);
    if (!opts.repair && (await this.isValid(path))) {
      opts.tempRoots?.add(path);
      if (!(nar instanceof Uint8Array)) await drain(nar);
      return;
    }
    if (opts.checkSigs) this.checkSignatures(info);
    await this.lock.shared(async () => {
      opts.tempRoots?.add(path);
      for (const r of info.references) if (r !== path && !(await this.isValid(r))) throw new OpError(`path '${r}' is not valid`);
      // (an IncomingNar's content address was parsed and hashed while it was read)
      const ca = info.ca && !incoming?.checked ? caVerifier(path, info.ca) : null;
      const view = this.view;
      const clean: NixPathInfo = { ...info, narHash: narHash.toString(), registrationTime: Math.floor(Date.now() / 1000) };
      if (!clean.deriver) delete clean.deriver;
      if (!clean.ca) delete clean.ca;
      if (nar instanceof Uint8Array && this.store instanceof CastoreNixStore) {
        // in memory: checked, then parsed once for both the store and the view
        if (incoming) incoming.finishChecks();
        else new NarChecker(narHash, info.narSize, path, ca).checkWhole(nar);
        const tree = narTreeOfBuffer(nar);
        const store = this.store;
        const done = (async () => {
          const added = store.addTreeToStore(clean, tree, await blobHashesOffThread(store, tree));
          // off this thread: small trees on the view's own thread, a large file
          // on libuv's (handing it to a thread would cost a copy); other trees here
          const staging =
            view &&
            (nar.length <= VIEW_THREAD_MAX ? view.stageTreeOffThread(path, tree) : tree.type === "regular" ? view.stageFile(path, tree) : Promise.resolve().then(() => view.stageTree(path, tree)));
          const [a, s] = await Promise.allSettled([added, staging]);
          if (a.status === "rejected" || s.status === "rejected") {
            if (s.status === "fulfilled") s.value?.discard();
            throw a.status === "rejected" ? a.reason : (s as PromiseRejectedResult).reason;
          }
          await s.value?.commitOffThread();
          if (view) this.onDisk.add(path);
        })();
        await this.whileMaterialising(path, done);
        return;
      }
      // a NAR in memory is checked before anything is written; a stream while it is
      let branches: AsyncIterable<Uint8Array>[];
      let abort = (_e: unknown) => {};
      const checker = new NarChecker(narHash, info.narSize, path, ca);
      if (nar instanceof Uint8Array) {
        if (incoming) incoming.finishChecks();
        else checker.checkWhole(nar);
        branches = [once(nar), once(nar)];
      } else {
        const t = tee(checkedStream(nar, checker), view ? 2 : 1);
        branches = t.branches;
        abort = (e) => t.abort(e);
      }
      let staged: StagedTree | null = null;
      const done = (async () => {
        const work: Promise<unknown>[] = [this.store.addToStore(clean, branches[0])];
        if (view) work.push(view.stage(path, branches[1]).then((s) => (staged = s)));
        const settled = await Promise.allSettled(work.map((w) => w.catch((e) => (abort(e), Promise.reject(e)))));
        const failed = settled.find((s) => s.status === "rejected") as PromiseRejectedResult | undefined;
        if (failed) {
          (staged as StagedTree | null)?.discard();
          throw failed.reason;
        }
        (staged as StagedTree | null)?.commit();
        if (view) this.onDisk.add(path);
      })();
      await this.whileMaterialising(path, done);
    });
  }

  /** Waits for an addition of `path`; meanwhile a query of the path waits for its files. */
  private async whileMaterialising(path: string, done: Promise<void>): Promise<void> {
    this.materialising.set(path, done.catch(() => {}));
    try {
      await done;
    } finally {
      this.materialising.delete(path);
      this.infoCache.delete(path);
    }
  }

  /** A NixStore over this one, for copying into it (substitution). */
  asNixStore(checkSigs: boolean, tempRoots?: TempRootsFile | null): NixStore {
    return {
      url: this.store.url,
      storeDir: this.storeDir,
      queryPathInfo: (p) => this.info(p),
      narFromPath: (p) => this.store.narFromPath(p),
      addToStore: (info, nar) => this.addNar(info, nar, { checkSigs, tempRoots }),
      listPaths: () => this.store.listPaths(),
      close: async () => {},
    };
  }

  async addSignatures(path: string, sigs: string[]): Promise<void> {
    if (!(await this.isValid(path))) throw new OpError(`path '${path}' is not valid`);
    if (!canAddSignatures(this.store)) throw new OpError(`not implemented: adding signatures to paths of store '${this.store.url}'`);
    await this.store.addSignatures(path, sigs);
    this.infoCache.delete(path);
  }

  // ------------------------------------------------------------ substitution

  async substitutableInfo(path: string): Promise<{ info: NixPathInfo; from: NixStore } | null> {
    for (const s of this.substituters) {
      try {
        const info = await s.queryPathInfo(path);
        if (info) return { info, from: s };
      } catch {
        // a substituter that fails is skipped, as Nix does
      }
    }
    return null;
  }

  /** Copies `path` and its closure from the first substituter that has it; false when none has. */
  async substitute(path: string, tempRoots?: TempRootsFile | null, onCopy?: (path: string, from: string) => void): Promise<boolean> {
    const hit = await this.substitutableInfo(path);
    if (!hit) return false;
    await copyPaths(hit.from, this.asNixStore(true, tempRoots), [path], {
      trustedKeys: this.settings.requireSigs ? this.trustedKeys : undefined,
      onEvent: (e) => {
        if (e.type === "start") onCopy?.(e.path, hit.from.url);
      },
    });
    return true;
  }

  // ------------------------------------------------------------ derivations and builds

  /** The BasicDerivation a builder gets for a derivation in the store. */
  toBasic(drv: Derivation): BasicDerivation {
    return { outputs: drv.outputs, inputSrcs: drv.inputSrcs, platform: drv.system, builder: drv.builder, args: drv.args, env: drv.env };
  }

  /** What building `targets` would take (QueryMissing). */
  async queryMissing(targets: DerivedPath[]): Promise<{ willBuild: Set<string>; willSubstitute: Set<string>; unknown: Set<string>; downloadSize: number; narSize: number }> {
    const res = { willBuild: new Set<string>(), willSubstitute: new Set<string>(), unknown: new Set<string>(), downloadSize: 0, narSize: 0 };
    const seen = new Set<string>();
    const opaque = async (p: string): Promise<void> => {
      if (seen.has(p)) return;
      seen.add(p);
      if (await this.isValid(p)) return;
      const hit = await this.substitutableInfo(p);
      if (!hit) {
        res.unknown.add(p);
        return;
      }
      res.willSubstitute.add(p);
      res.narSize += hit.info.narSize;
      res.downloadSize += hit.info.narSize;
      for (const r of hit.info.references) if (r !== p) await opaque(r);
    };
    const built = async (drvPath: string, outputs: string[] | null): Promise<void> => {
      const key = `${drvPath}!${outputs?.join(",") ?? "*"}`;
      if (seen.has(key)) return;
      seen.add(key);
      if (!(await this.isValid(drvPath))) {
        await opaque(drvPath);
        if (!(await this.isValid(drvPath))) return;
      }
      const drv = await this.readDerivation(drvPath);
      const wanted = [...drv.outputs].filter(([n]) => outputs === null || outputs.includes(n));
      const missing: string[] = [];
      let unknownPath = false;
      for (const [, o] of wanted) {
        if (o.path === "") unknownPath = true;
        else if (!(await this.isValid(o.path))) missing.push(o.path);
      }
      if (missing.length === 0 && !unknownPath) return;
      if (!unknownPath) {
        const subs = await Promise.all(missing.map((m) => this.substitutableInfo(m)));
        if (subs.every((s) => s)) {
          for (const m of missing) await opaque(m);
          return;
        }
      }
      res.willBuild.add(drvPath);
      for (const [d, outs] of drv.inputDrvs) await built(d, outs);
      for (const s of drv.inputSrcs) await opaque(s);
    };
    for (const t of targets) {
      if (t.type === "opaque") await opaque(t.path);
      else await built(t.drvPath, t.outputs);
    }
    return res;
  }

  // ------------------------------------------------------------ garbage collection

  private requireRoots(what: string): GcRoots {
    if (!this.roots) throw new OpError(`not implemented: ${what} without a file system root for store '${this.store.url}' (start the daemon with --root DIR)`);
    return this.roots;
  }

  addIndirectRoot(link: string): void {
    this.requireRoots("indirect roots").addIndirectRoot(link);
  }

  addPermRoot(path: string, gcRoot: string): string {
    try {
      return this.requireRoots("permanent roots").addPermRoot(path, gcRoot);
    } catch (e) {
      if (e instanceof OpError) throw e;
      throw new OpError((e as Error).message);
    }
  }

  /** The permanent and indirect roots (no temp roots), as link -> path pairs. */
  async findRoots(log: (m: string) => void): Promise<Roots> {
    return this.requireRoots("finding roots").findRoots((p) => this.isValid(p), log);
  }

  async collectGarbage(opts: GcOptions, log: (m: string) => void): Promise<GcResult> {
    const roots = this.requireRoots("garbage collection");
    const store = this.store;
    if (!canRemovePaths(store)) throw new OpError(`not implemented: garbage collection in store '${store.url}' (it cannot delete paths)`);
    return this.lock.exclusive(async () => {
      try {
        return await collectGarbage(
          {
            store,
            roots,
            log,
            removeFiles: (p) => {
              this.infoCache.delete(p);
              this.onDisk.delete(p);
              return this.view?.remove(p) ?? 0;
            },
          },
          { keepOutputs: this.settings.keepOutputs, keepDerivations: this.settings.keepDerivations, ...opts },
        );
      } catch (e) {
        if (e instanceof OpError) throw e;
        throw new OpError((e as Error).message);
      }
    });
  }

  // ------------------------------------------------------------ logs and realisations

  private logPath(drvPath: string): string {
    const base = drvPath.slice(drvPath.lastIndexOf("/") + 1);
    return join(this.logDir!, "drvs", base.slice(0, 2), base.slice(2));
  }

  addBuildLog(drvPath: string, log: Uint8Array): void {
    if (!this.logDir) throw new OpError(`not implemented: build logs without a file system root for store '${this.store.url}'`);
    const file = this.logPath(drvPath);
    mkdirs(dirname(file), 0o755);
    const tmp = `${file}.tmp-${process.pid}-${tempTag(4)}`;
    writeFileSync(tmp, log, { mode: 0o644 });
    chmodSync(tmp, 0o644);
    renameSync(tmp, file);
  }

  private realisationFile(id: string): string {
    if (!this.stateDir) throw new OpError(`not implemented: realisations without a file system root for store '${this.store.url}'`);
    return join(this.stateDir, "realisations", encodeURIComponent(id) + ".json");
  }

  registerRealisation(r: Realisation): void {
    const file = this.realisationFile(r.id);
    mkdirs(dirname(file), 0o755);
    const tmp = `${file}.tmp-${process.pid}-${tempTag(4)}`;
    writeFileSync(tmp, realisationToJson(r), { mode: 0o644 });
    chmodSync(tmp, 0o644);
    renameSync(tmp, file);
  }

  queryRealisation(id: string): Realisation | null {
    const file = this.realisationFile(id);
    if (!existsSync(file)) return null;
    return realisationFromJson(readFileSync(file, "utf8"));
  }

  // ------------------------------------------------------------ verification

  /**
   * Checks every path: its files are on disk (written from the store when
   * missing), and with `checkContents` the store's NAR and the files on
   * disk hash to the recorded NAR hash. `repair` rewrites files on disk
   * that differ (from the store, when the store's copy is intact).
   * Returns whether errors remain.
   */
  async verify(checkContents: boolean, repair: boolean, log: (m: string) => void): Promise<boolean> {
    log("reading the Nix store...");
    const paths = await this.allValidPaths();
    log("checking path existence...");
    let errors = false;
    for (const p of paths) {
      try {
        await this.ensureOnDisk(p);
      } catch (e) {
        log(`path '${p}' cannot be written to disk: ${(e as Error).message}`);
        errors = true;
      }
    }
    if (!checkContents) return errors;
    log("checking hashes...");
    for (const p of paths) {
      const info = await this.store.queryPathInfo(p);
      if (!info) continue;
      const want = Hash.parse(info.narHash);
      let storeOk = true;
      try {
        const h = measureStream(this.store.narFromPath(p));
        await drain(h.stream);
        const got = h.result();
        if (!got.hash.equals(want) || got.size !== info.narSize) {
          log(`path '${p}' was modified! expected hash '${want.toString()}', got '${got.hash.toString()}'`);
          storeOk = false;
          errors = true;
        }
      } catch (e) {
        log(`path '${p}' cannot be read from the store: ${(e as Error).message}`);
        storeOk = false;
        errors = true;
      }
      if (!this.view) continue;
      let got: { hash: Hash; size: number };
      try {
        got = await this.view.narHashOnDisk(p);
      } catch (e) {
        got = { hash: new Hash("sha256", new Uint8Array(32)), size: -1 };
      }
      if (got.hash.equals(want) && got.size === info.narSize) continue;
      log(`path '${this.view.realPath(p)}' was modified! expected hash '${want.toString()}', got '${got.hash.toString()}'`);
      if (repair && storeOk) {
        log(`repairing path '${p}'...`);
        const staged = await this.view.stage(p, this.store.narFromPath(p));
        staged.commit();
        this.onDisk.add(p);
      } else errors = true;
    }
    return errors;
  }

  async close(): Promise<void> {
    await this.builder.close?.();
    await Promise.allSettled([this.store.close(), ...this.substituters.map((s) => s.close())]);
  }
}

/** Whether the store's blobs are done with the bytes they are given when put() returns (a local store copies them into its pack). */
function storesBytesAtOnce(store: CastoreNixStore): boolean {
  return store.blobs instanceof ChunkedBlobService && store.blobs.consumesSynchronously;
}

/** Single files from this size are hashed for the castore on the blob hashing thread (stores/blob-hasher.ts). */
const OFF_THREAD_BLOB_MIN = 1024 * 1024;

/**
 * A large single file's castore hashes (chunk cuts, chunk and blob BLAKE3),
 * computed on the blob hashing thread while this one goes on with other
 * paths; undefined (hashed in place by the store) for other trees, or if
 * that thread is not available.
 */
async function blobHashesOffThread(store: CastoreNixStore, tree: NarNode): Promise<BlobHashes | undefined> {
  if (tree.type !== "regular" || tree.contents.length < OFF_THREAD_BLOB_MIN || tree.contents.length > BLOB_HASHER_MAX) return undefined;
  if (!storesBytesAtOnce(store)) return undefined;
  const hasher = BlobHasher.shared();
  return hasher ? hasher.hash(tree.contents).catch(() => undefined) : undefined;
}

/**
 * Checks a NAR's size, sha256 and content address as it is fed, with C++
 * Nix's messages. Fed from a stream, the error comes before the stream's
 * end, so no consumer registers anything.
 */
class NarChecker {
  private readonly h = createHasher("sha256");
  private size = 0;
  constructor(
    private readonly narHash: Hash,
    private readonly narSize: number,
    private readonly path: string,
    private readonly ca: { update(c: Uint8Array): void; finish(h: Hash): void } | null,
  ) {}

  update(c: Uint8Array): void {
    this.size += c.length;
    if (this.size > this.narSize) throw new OpError(`size mismatch importing path '${this.path}';\n  specified: ${this.narSize}\n  got:       ${this.size} or more`);
    this.h.update(c);
    this.ca?.update(c);
  }

  /** Checks a whole NAR in memory (the checker fed nothing else). */
  checkWhole(nar: Uint8Array): void {
    this.update(nar);
    this.finish();
  }

  finish(): void {
    const got = this.h.digest();
    if (this.size !== this.narSize) throw new OpError(`size mismatch importing path '${this.path}';\n  specified: ${this.narSize}\n  got:       ${this.size}`);
    if (!got.equals(this.narHash))
      throw new OpError(`hash mismatch importing path '${this.path}';\n  specified: ${this.narHash.format("nix32", true)}\n  got:       ${got.format("nix32", true)}`);
    try {
      this.ca?.finish(got);
    } catch (e) {
      throw new OpError((e as Error).message);
    }
  }
}

/**
 * A NAR being read into memory (AddMultipleToStore), its checks (size,
 * sha256, content address) fed as its bytes arrive, so that they are read
 * once, while in the cache; addNar() compares the results before anything
 * is written. Hashing in place costs less than handing a NAR to WebCrypto,
 * which copies it on this thread (measured: 50-280 ms per 64 MiB against
 * 41 ms for hashing it here).
 */
export class IncomingNar {
  /** Null when the declared hash or content address is malformed: addNar() says so before any check. */
  private readonly checker: NarChecker | null;
  private at = 0;

  constructor(
    info: NixPathInfo,
    readonly bytes: Uint8Array,
  ) {
    let checker: NarChecker | null = null;
    try {
      checker = new NarChecker(Hash.parse(info.narHash, "sha256"), info.narSize, info.storePath, info.ca ? caVerifier(info.storePath, info.ca) : null);
    } catch {
      // reported by addNar(), in its order
    }
    this.checker = checker;
  }

  /** Whether the checks run (the declared hash and content address parsed). */
  get checked(): boolean {
    return this.checker !== null;
  }

  /** Bytes still to come. */
  get missing(): number {
    return this.bytes.length - this.at;
  }

  /** Copies the next bytes in (at most `missing`) and feeds them to the checks. */
  append(chunk: Uint8Array): void {
    this.bytes.set(chunk, this.at);
    this.at += chunk.length;
    this.checker?.update(chunk);
  }

  /** Throws Nix's error when the NAR is incomplete or disagrees with its path info. */
  finishChecks(): void {
    if (!this.checker) throw new Error("IncomingNar: its path info was not checked first");
    this.checker.finish();
  }
}

async function* checkedStream(nar: AsyncIterable<Uint8Array>, checker: NarChecker): AsyncIterable<Uint8Array> {
  for await (const c of nar) {
    checker.update(c);
    yield c;
  }
  checker.finish();
}

async function* once(b: Uint8Array): AsyncIterable<Uint8Array> {
  yield b;
}
