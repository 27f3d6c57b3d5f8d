// What the scheduler needs from a castore-backed store beyond NixStore:
// reading a .drv file, the closure of paths with their root nodes, and
// materialising paths under the real store directory (once per path per
// process) so that sandboxes and ./result can use them.
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Derivation, parseDerivation, derivationStorePath, drvNameFromPath } from "../core/derivation";
import { StorePath, makeTextPath } from "../core/store-path";
import { ingestPath, ingestTree } from "../stores/nar-bridge";
import { hashBytes } from "../core/hash";
import { narFromTree } from "../core/nar";
import type { CastoreNixStore } from "../stores/castore-store";
import { materialise } from "../stores/materialise";
import type { PathInfo } from "../stores/types";
import { toHex } from "../core/castore";

export class StoreAccess {
  private readonly drvs = new Map<string, Derivation>();
  private readonly materialising = new Map<string, Promise<string>>();
  /** Path infos read so far (a valid path's info never changes). */
  private readonly infos = new Map<string, PathInfo>();

  constructor(readonly store: CastoreNixStore, readonly realStoreDir: string) {}

  get storeDir(): string {
    return this.store.storeDir;
  }

  /** A file path's contents from castore. */
  async readFile(storePath: string): Promise<Uint8Array> {
    const info = await this.store.pathInfo(storePath);
    if (!info) throw new Error(`path '${storePath}' is not valid in '${this.store.url}'`);
    if (info.node.type !== "file") throw new Error(`'${storePath}' is not a regular file`);
    const blob = await this.store.blobs.open(info.node.digest);
    if (!blob) throw new Error(`blob ${toHex(info.node.digest)} of '${storePath}' is missing`);
    const parts: Uint8Array[] = [];
    for await (const c of blob) parts.push(c);
    return Buffer.concat(parts);
  }

  /**
   * Reads a derivation. A .drv the store lacks but the disk holds (written
   * by Nix, say) is imported first, after checking that its path matches
   * its contents.
   */
  async derivation(drvPath: string): Promise<Derivation> {
    let d = this.drvs.get(drvPath);
    if (d) return d;
    StorePath.parseAbsolute(drvPath, this.storeDir);
    if (!(await this.store.pathInfo(drvPath))) await this.importDrvFromDisk(drvPath);
    d = parseDerivation(new TextDecoder().decode(await this.readFile(drvPath)));
    this.drvs.set(drvPath, d);
    return d;
  }

  /**
   * Makes a derivation the store does not hold known under its path (the
   * daemon's BuildDerivation: a client sends it without its input
   * derivations, whose outputs are valid already).
   */
  provide(drvPath: string, drv: Derivation): void {
    this.drvs.set(drvPath, drv);
  }

  /** A derivation derivation() has read already. */
  loaded(drvPath: string): Derivation {
    const d = this.drvs.get(drvPath);
    if (!d) throw new Error(`internal error: derivation '${drvPath}' not loaded`);
    return d;
  }

  private async importDrvFromDisk(drvPath: string): Promise<void> {
    const onDisk = this.onDisk(drvPath);
    if (!onDisk) throw new Error(`derivation '${drvPath}' is not valid in '${this.store.url}'`);
    const text = readFileSync(onDisk, "utf8");
    const drv = parseDerivation(text);
    const sp = derivationStorePath(drv, drvNameFromPath(drvPath), this.storeDir);
    if (sp.toAbsolute(this.storeDir) !== drvPath) throw new Error(`'${onDisk}' does not hold the derivation '${drvPath}' (its contents give '${sp.toAbsolute(this.storeDir)}')`);
    const nar = narFromTree({ type: "regular", executable: false, contents: Buffer.from(text, "utf8") });
    const refs = [...new Set([...drv.inputSrcs, ...drv.inputDrvs.keys()])].sort();
    await this.store.addToStore(
      { storePath: drvPath, narHash: hashBytes("sha256", nar).toString(), narSize: nar.length, references: refs, signatures: [], ca: `text:${hashBytes("sha256", text).toString()}` },
      (async function* () {
        yield nar;
      })(),
    );
  }

  /** Where a path exists on disk: under the real store directory, or the store directory itself (Nix's copy). */
  private onDisk(storePath: string): string | null {
    const base = storePath.slice(this.storeDir.length + 1);
    for (const dir of new Set([this.realStoreDir, this.storeDir])) {
      const p = join(dir, base);
      if (existsSync(p)) return p;
    }
    return null;
  }

  /**
   * Imports a source path (no references: `builtins.path`, `filterSource`,
   * `toFile` without context) that exists under the real store directory
   * but not in the store, when its contents really give its path (Nix wrote
   * it, say). False when it is absent or is something else.
   */
  async importSourceFromDisk(storePath: string): Promise<boolean> {
    const onDisk = this.onDisk(storePath);
    if (!onDisk) return false;
    const sp = StorePath.parseAbsolute(storePath, this.storeDir);
    const info = await ingestPath(this.store, onDisk, this.storeDir, sp.name);
    if (info.storePath === storePath) {
      await this.store.registerPath(info);
      return true;
    }
    // a text path: sha256 of the contents, no references
    const st = lstatSync(onDisk);
    if (st.isFile() && !(st.mode & 0o100)) {
      const contents = readFileSync(onDisk);
      const h = hashBytes("sha256", contents);
      if (makeTextPath(sp.name, h, [], this.storeDir).equals(sp)) {
        const r = await ingestTree(this.store, onDisk);
        await this.store.registerPath({ storePath, node: { ...r.node, name: new TextEncoder().encode(sp.toString()) }, narHash: r.narHash.toString(), narSize: r.narSize, references: [], signatures: [], ca: `text:${h.toString()}` });
        return true;
      }
    }
    return false;
  }

  /** The closure of `roots` with full path infos (root nodes included). Throws on an invalid path. */
  async closure(roots: readonly string[]): Promise<Map<string, PathInfo>> {
    const out = new Map<string, PathInfo>();
    const todo = [...roots];
    while (todo.length > 0) {
      const batch = todo.splice(0).filter((p) => !out.has(p));
      const infos = await Promise.all(batch.map((p) => this.pathInfo(p)));
      batch.forEach((p, i) => {
        const info = infos[i];
        if (!info) throw new Error(`path '${p}' is not valid in '${this.store.url}'`);
        if (out.has(p)) return;
        out.set(p, info);
        for (const r of info.references) if (!out.has(r)) todo.push(r);
      });
    }
    return out;
  }

  /** A path's info (cached once valid), or null. */
  async pathInfo(storePath: string): Promise<PathInfo | null> {
    const known = this.infos.get(storePath);
    if (known) return known;
    const info = await this.store.pathInfo(storePath);
    if (info) this.infos.set(storePath, info);
    return info;
  }

  /** Writes a valid path under the real store directory (if absent); returns where it is. */
  materialise(storePath: string): Promise<string> {
    let p = this.materialising.get(storePath);
    if (!p) {
      p = materialise(this.store, storePath, this.realStoreDir);
      this.materialising.set(storePath, p);
      p.catch(() => this.materialising.delete(storePath));
    }
    return p;
  }

  /** Materialises the closure of `roots`. */
  async materialiseClosure(roots: readonly string[]): Promise<void> {
    const c = await this.closure(roots);
    await Promise.all([...c.keys()].map((p) => this.materialise(p)));
  }
}
