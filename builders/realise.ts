// From a finished build to valid store paths, as Nix's registerOutputs:
// references from the scanned hash parts, fixed-output hashes checked
// (`hash mismatch ... specified: ... got:`), allowedReferences and friends
// enforced, cycles between outputs rejected, and only then every output's
// path info written (references first). A failed check registers nothing.
import { createHasher, Hash } from "../core/hash";
import { dumpPath } from "../stores/host-tree";
import { type Derivation, isFixedOutput, parseOutputHashAlgo } from "../core/derivation";
import { makeFixedOutputPath, makeTextPath, StorePath } from "../core/store-path";
import type { CastoreNixStore } from "../stores/castore-store";
import type { PathInfo } from "../stores/types";
import { createReadStream } from "node:fs";
import { BuildError, type BuildOutput } from "./build-request";
import { outputChecks, type OutputChecks } from "../glue/build-request";

export class HashMismatchError extends BuildError {
  constructor(message: string) {
    super(message, "hash-mismatch");
  }
}

/**
 * Nix's HashModuloSink: the hash of a stream in which every occurrence of
 * `modulus` (the output's own hash part) is replaced by NUL bytes, followed
 * by "|<offset>" for each occurrence. A content-addressed output's hash
 * therefore does not depend on the path it was built at.
 */
export class HashModulo {
  private readonly hasher;
  private prev = Buffer.alloc(0);
  private pos = 0;
  readonly matches: number[] = [];
  private readonly from: Buffer;

  constructor(algo: Hash["algo"], modulus: string) {
    this.hasher = createHasher(algo);
    this.from = Buffer.from(modulus);
  }

  update(data: Uint8Array): void {
    const s = Buffer.concat([this.prev, data]);
    for (let j = s.indexOf(this.from); j >= 0; j = s.indexOf(this.from, j)) {
      this.matches.push(this.pos + j);
      s.fill(0, j, j + this.from.length);
    }
    const keep = s.length < this.from.length ? s.length : this.from.length - 1;
    this.prev = Buffer.from(s.subarray(s.length - keep));
    const consumed = s.length - keep;
    this.pos += consumed;
    if (consumed > 0) this.hasher.update(s.subarray(0, consumed));
  }

  digest(): Hash {
    if (this.prev.length > 0) {
      this.pos += this.prev.length;
      this.hasher.update(this.prev);
      this.prev = Buffer.alloc(0);
    }
    for (const p of this.matches) this.hasher.update(`|${p}`);
    return this.hasher.digest();
  }
}

/** Hashes an output as Nix does for content addressing: its NAR (recursive) or bytes (flat/text), modulo its own hash part. */
async function hashOutput(hostPath: string, algo: Hash["algo"], method: "flat" | "recursive" | "text", modulus: string): Promise<Hash> {
  const h = new HashModulo(algo, modulus);
  if (method === "recursive") for await (const c of dumpPath(hostPath)) h.update(c);
  else for await (const c of createReadStream(hostPath)) h.update(c as Buffer);
  return h.digest();
}

export interface RealiseContext {
  store: CastoreNixStore;
  drvPath: string;
  drv: Derivation;
  /** Hash part -> store path, for the request's needles. */
  needlePaths: string[];
}

/** Checks the outputs of a build and computes their path infos (nothing is registered yet). */
export async function checkOutputs(ctx: RealiseContext, outputs: BuildOutput[]): Promise<Map<string, PathInfo>> {
  const { drv, drvPath, store } = ctx;
  const byBase = new Map(outputs.map((o) => [new TextDecoder().decode(o.node.name), o]));
  const infos = new Map<string, PathInfo>();
  const nameOfPath = new Map<string, string>();
  for (const [name, o] of drv.outputs) nameOfPath.set(o.path, name);

  for (const [name, o] of drv.outputs) {
    const base = o.path.slice(store.storeDir.length + 1);
    const built = byBase.get(base);
    if (!built) throw new BuildError(`builder for '${drvPath}' failed to produce output path for output '${name}' at '${o.path}'`);
    const references = built.needles.map((i) => ctx.needlePaths[i]).sort();
    const info: PathInfo = {
      storePath: o.path,
      node: built.node,
      narHash: built.narHash,
      narSize: built.narSize,
      references,
      deriver: drvPath,
      signatures: [],
    };
    if (isFixedOutput(drv)) {
      const { method, algo } = parseOutputHashAlgo(o.hashAlgo);
      if (method !== "recursive" && built.node.type !== "file")
        throw new BuildError(`output path '${o.path}' should be a non-executable regular file since recursive hashing is not enabled (outputHashMode=flat)`);
      if (method !== "recursive" && built.node.type === "file" && built.node.executable)
        throw new BuildError(`output path '${o.path}' should be a non-executable regular file since recursive hashing is not enabled (outputHashMode=flat)`);
      const sp = StorePath.parseAbsolute(o.path, store.storeDir);
      const got = await hashOutput(built.hostPath, algo, method, sp.hashPart);
      const wanted = Hash.parse(o.hash, algo);
      if (!got.equals(wanted))
        throw new HashMismatchError(`hash mismatch in fixed-output derivation '${drvPath}':\n  specified: ${wanted.toSRI()}\n     got:    ${got.toSRI()}`);
      const selfRefs = references.filter((r) => r !== o.path);
      if (selfRefs.length > 0)
        throw new BuildError(`fixed-output derivations must not reference store paths: '${drvPath}' references ${selfRefs.length} distinct paths, e.g. '${selfRefs[0]}'`);
      const expected = method === "text" ? makeTextPath(sp.name, got, [], store.storeDir) : makeFixedOutputPath(sp.name, got, method === "recursive", [], store.storeDir);
      if (!expected.equals(sp)) throw new BuildError(`fixed-output derivation '${drvPath}' produced '${expected.toAbsolute(store.storeDir)}' instead of '${o.path}'`);
      info.ca = method === "text" ? `text:${got.format("nix32", true)}` : `fixed:${method === "recursive" ? "r:" : ""}${got.format("nix32", true)}`;
    }
    infos.set(name, info);
  }

  // cycles between outputs (a self-reference is fine)
  const order = topoOutputs(drv, drvPath, infos, nameOfPath);
  await applyChecks(ctx, infos);
  return new Map(order.map((n) => [n, infos.get(n)!]));
}

/** Output names, each after the outputs it refers to; throws Nix's error on a cycle. */
function topoOutputs(drv: Derivation, drvPath: string, infos: Map<string, PathInfo>, nameOfPath: Map<string, string>): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, from: string | null) => {
    const s = state.get(name);
    if (s === "done") return;
    if (s === "visiting") throw new BuildError(`cycle detected in build of '${drvPath}' in the references of output '${name}' from output '${from}'`);
    state.set(name, "visiting");
    const info = infos.get(name)!;
    for (const r of info.references) {
      const other = nameOfPath.get(r);
      if (other !== undefined && other !== name) visit(other, name);
    }
    state.set(name, "done");
    order.push(name);
  };
  for (const name of [...drv.outputs.keys()].sort()) visit(name, null);
  return order;
}

async function applyChecks(ctx: RealiseContext, infos: Map<string, PathInfo>): Promise<void> {
  const { drv, store } = ctx;
  const all = outputChecks(drv);
  const newInfos = new Map([...infos.values()].map((i) => [i.storePath, i]));
  const closureOf = async (p: string): Promise<{ paths: Set<string>; size: number }> => {
    const paths = new Set<string>();
    let size = 0;
    const todo = [p];
    while (todo.length > 0) {
      const q = todo.pop()!;
      if (paths.has(q)) continue;
      paths.add(q);
      const info = newInfos.get(q) ?? (await store.queryPathInfo(q));
      if (!info) throw new BuildError(`path '${q}' (a reference of '${p}') is not valid`);
      size += info.narSize;
      todo.push(...info.references);
    }
    return { paths, size };
  };
  for (const [name, info] of infos) {
    const checks: OutputChecks = all.get(name) ?? { ignoreSelfRefs: true };
    if (checks.maxSize !== undefined && info.narSize > checks.maxSize)
      throw new BuildError(`path '${info.storePath}' is too large at ${info.narSize} bytes; limit is ${checks.maxSize} bytes`);
    const needClosure = checks.maxClosureSize !== undefined || checks.allowedRequisites !== undefined || checks.disallowedRequisites !== undefined;
    const closure = needClosure ? await closureOf(info.storePath) : null;
    if (checks.maxClosureSize !== undefined && closure!.size > checks.maxClosureSize)
      throw new BuildError(`closure of path '${info.storePath}' is too large at ${closure!.size} bytes; limit is ${checks.maxClosureSize} bytes`);
    const spec = (list: string[]) =>
      new Set(
        list.map((s) => {
          if (s.startsWith(store.storeDir + "/")) return s;
          const o = drv.outputs.get(s);
          if (o) return o.path;
          throw new BuildError(`derivation contains an illegal reference specifier '${s}'`);
        }),
      );
    const check = (list: string[] | undefined, allowed: boolean, recursive: boolean) => {
      if (!list) return;
      const sp = spec(list);
      const used = recursive ? new Set(closure!.paths) : new Set(info.references);
      if (recursive && checks.ignoreSelfRefs) used.delete(info.storePath);
      const bad = [...used].filter((p) => (allowed ? !sp.has(p) : sp.has(p))).sort();
      if (bad.length > 0)
        throw new BuildError(`output '${info.storePath}' is not allowed to refer to the following paths:${bad.map((b) => `\n  ${b}`).join("")}`);
    };
    check(checks.allowedReferences, true, false);
    check(checks.allowedRequisites, true, true);
    check(checks.disallowedReferences, false, false);
    check(checks.disallowedRequisites, false, true);
  }
}

/** Writes the path infos (already in dependency order). */
export async function registerOutputs(store: CastoreNixStore, infos: Map<string, PathInfo>): Promise<void> {
  for (const info of infos.values()) await store.registerPath(info);
}
