// The worker protocol's operations (shared/docs/seed/nix-daemon/operations.md),
// each as a handler that reads its arguments from the connection, runs
// startWork() before doing anything that can fail for reasons other than a
// malformed request, and writes its answer after stopWork(). Trust checks
// and refusals follow C++ Nix's daemon.
import { NarBuffers } from "./nar-buffers";
import {
  ActivityType,
  BuildMode,
  BuildStatus,
  type BasicDerivation,
  type BuildResult,
  type DerivedPath,
  GCAction,
  Op,
  ResultType,
  Verbosity,
  type WirePathInfo,
  formatDerivedPath,
  parseDerivedPath,
  readBasicDerivation,
  readClientSettings,
  readValidPathInfo,
  readValidPathInfoNow,
  realisationFromJson,
  realisationToJson,
  writeBuildResult,
  writeUnkeyedPathInfo,
  writeValidPathInfo,
} from "../core/daemon-protocol";
import { WireError, WireReader, WireWriter } from "../core/wire";
import { Hash, type HashAlgo, parseHashAlgo } from "../core/hash";
import { makeFixedOutputPath, makeTextPath } from "../core/store-path";
import { type Derivation, hashDerivationModulo, moduloHashes } from "../core/derivation";
import { narExtent } from "../core/nar-extent";
import { readNar } from "../core/nar";
import { isAbsolute, resolve } from "node:path";
import type { NixPathInfo } from "../stores/types";
import { formatContentAddress } from "../stores/ca-verify";
import type { Connection } from "./connection";
import { FramedSource } from "./framed";
import { IncomingNar, OpError, drain } from "./served-store";
import { Spool, flatNar, hashStream } from "./spool";
import { BuildNotImplemented } from "./builder";

type Handler = (c: Connection) => Promise<void>;

export const OPS = new Map<number, Handler>();
const op = (code: number, h: Handler) => OPS.set(code, h);

// ------------------------------------------------------------ helpers

function toWire(i: NixPathInfo): WirePathInfo {
  return {
    path: i.storePath,
    deriver: i.deriver ?? "",
    narHash: Hash.parse(i.narHash).toBase16(),
    references: i.references,
    registrationTime: i.registrationTime ?? 0,
    narSize: i.narSize,
    ultimate: !!i.ultimate,
    signatures: i.signatures,
    ca: i.ca ?? "",
  };
}

function fromWire(w: WirePathInfo): NixPathInfo {
  let narHash: string;
  try {
    narHash = Hash.parse(w.narHash, "sha256").toString();
  } catch (e) {
    throw new OpError(`invalid NAR hash '${w.narHash}' for '${w.path}': ${(e as Error).message}`);
  }
  const info: NixPathInfo = { storePath: w.path, narHash, narSize: w.narSize, references: w.references, signatures: w.signatures };
  if (w.deriver) info.deriver = w.deriver;
  if (w.ca) info.ca = w.ca;
  if (w.ultimate) info.ultimate = true;
  return info;
}

const sorted = (s: Iterable<string>) => [...s].sort();

function refuse(message: string): never {
  throw new OpError(message);
}

/** A stream of exactly `n` bytes from the reader. */
async function* exactBytes(r: WireReader, n: number): AsyncIterable<Uint8Array> {
  let left = n;
  while (left > 0) {
    const c = await r.some(Math.min(left, 1 << 20));
    left -= c.length;
    yield new Uint8Array(c);
  }
}

/** The client's source read through STDERR_READ requests (ImportPaths; AddToStoreNar 1.21-1.22). */
function tunnelSource(c: Connection): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) yield await c.readData(65536);
    },
  };
}

// ------------------------------------------------------------ queries

/** An operation that takes one path (or hash part) and answers from it. */
function pathOp<T>(code: number, answer: (c: Connection, path: string) => Promise<T>, write: (c: Connection, v: T) => void): void {
  op(code, async (c) => {
    const path = await c.r.string();
    c.startWork();
    const v = await answer(c, path);
    c.stopWork();
    write(c, v);
  });
}

pathOp(Op.IsValidPath, (c, p) => c.store.isValid(p), (c, v) => c.out.bool(v));
pathOp(Op.QueryPathHash, (c, p) => c.store.requireInfo(p), (c, i) => c.out.string(Hash.parse(i.narHash).toBase16()));
pathOp(Op.QueryReferences, (c, p) => c.store.requireInfo(p), (c, i) => c.out.strings(sorted(i.references)));
pathOp(Op.QueryDeriver, (c, p) => c.store.requireInfo(p), (c, i) => c.out.string(i.deriver ?? ""));
pathOp(Op.QueryReferrers, (c, p) => c.store.referrers(p), (c, v) => c.out.strings(v));
pathOp(Op.QueryValidDerivers, (c, p) => c.store.validDerivers(p), (c, v) => c.out.strings(v));
pathOp(Op.QueryDerivationOutputs, (c, p) => c.store.derivationOutputMap(p), (c, m) => c.out.strings(sorted([...m.values()].filter((p) => p !== ""))));
pathOp(Op.QueryDerivationOutputNames, (c, p) => c.store.derivationOutputMap(p), (c, m) => c.out.strings(sorted(m.keys())));
pathOp(Op.QueryDerivationOutputMap, (c, p) => c.store.derivationOutputMap(p), (c, m) => c.out.stringMap([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
pathOp(Op.QueryPathFromHashPart, (c, h) => c.store.pathFromHashPart(h), (c, p) => c.out.string(p ?? ""));

op(Op.QueryValidPaths, async (c) => {
  const paths = await c.r.strings();
  const substitute = c.minor >= 27 ? await c.r.bool() : false;
  c.startWork();
  const valid: string[] = [];
  for (const p of new Set(paths)) {
    if (await c.store.isValid(p)) valid.push(p);
    else if (substitute && c.settings.useSubstitutes && (await substituteWithLog(c, p))) valid.push(p);
  }
  c.stopWork();
  c.out.strings(sorted(valid));
});

op(Op.QueryPathInfo, async (c) => {
  const path = await c.r.string();
  c.startWork();
  const info = await c.store.info(path);
  if (!info && c.minor < 17) refuse(`path '${path}' is not valid`);
  c.stopWork();
  if (c.minor >= 17) c.out.bool(!!info);
  if (info) writeUnkeyedPathInfo(c.out, c.version, toWire(info));
});

op(Op.QueryAllValidPaths, async (c) => {
  c.startWork();
  const paths = await c.store.allValidPaths();
  c.stopWork();
  c.out.strings(paths);
});

// ------------------------------------------------------------ substitutes

op(Op.HasSubstitutes, async (c) => {
  const path = await c.r.string();
  c.startWork();
  c.store.parse(path);
  const hit = await c.store.substitutableInfo(path);
  c.stopWork();
  c.out.bool(!!hit);
});

op(Op.QuerySubstitutablePaths, async (c) => {
  const paths = await c.r.strings();
  c.startWork();
  const out: string[] = [];
  for (const p of new Set(paths)) {
    c.store.parse(p);
    if (await c.store.substitutableInfo(p)) out.push(p);
  }
  c.stopWork();
  c.out.strings(sorted(out));
});

op(Op.QuerySubstitutablePathInfo, async (c) => {
  const path = await c.r.string();
  c.startWork();
  c.store.parse(path);
  const hit = await c.store.substitutableInfo(path);
  c.stopWork();
  c.out.bool(!!hit);
  if (hit) c.out.string(hit.info.deriver ?? "").strings(hit.info.references).u64(hit.info.narSize).u64(hit.info.narSize);
});

op(Op.QuerySubstitutablePathInfos, async (c) => {
  const paths = c.minor >= 22 ? [...(await c.r.stringMap()).keys()] : await c.r.strings();
  c.startWork();
  const found: NixPathInfo[] = [];
  for (const p of new Set(paths)) {
    c.store.parse(p);
    const hit = await c.store.substitutableInfo(p);
    if (hit) found.push(hit.info);
  }
  c.stopWork();
  c.out.u64(found.length);
  for (const i of found) c.out.string(i.storePath).string(i.deriver ?? "").strings(i.references).u64(i.narSize).u64(i.narSize);
});

/** Substitutes one path with a CopyPath activity, as Nix shows "copying path ... from ...". */
async function substituteWithLog(c: Connection, path: string): Promise<boolean> {
  return c.store.substitute(path, c.tempRoots, (p, from) => {
    const id = c.startActivity(ActivityType.CopyPath, `copying path '${p}' from '${from}'`, [p, from, ""]);
    c.stopActivity(id);
  });
}

// ------------------------------------------------------------ additions

/** The common end of content-addressed additions: the NAR (spooled), the path, the info. */
async function addContentAddressed(
  c: Connection,
  name: string,
  method: "recursive" | "flat" | "text",
  algo: HashAlgo,
  references: string[],
  dump: AsyncIterable<Uint8Array>,
  repair: boolean,
): Promise<NixPathInfo> {
  const algos: HashAlgo[] = algo === "sha256" ? ["sha256"] : ["sha256", algo];
  const { spool, hashes } = await Spool.fill(dump, algos);
  try {
    const store = c.store;
    for (const r of references) store.parse(r);
    const contentHash = hashes.get(algo)!;
    let nar: () => AsyncIterable<Uint8Array>;
    let narHash: Hash;
    let narSize: number;
    if (method === "recursive") {
      nar = () => spool.stream();
      narHash = hashes.get("sha256")!;
      narSize = spool.size;
    } else {
      nar = () => flatNar(spool.stream(), spool.size);
      ({ hash: narHash, size: narSize } = await hashStream(nar()));
    }
    let path: string;
    try {
      const sp =
        method === "text"
          ? makeTextPath(name, contentHash, references, store.storeDir)
          : makeFixedOutputPath(name, contentHash, method === "recursive", references, store.storeDir);
      path = sp.toAbsolute(store.storeDir);
    } catch (e) {
      throw new OpError((e as Error).message);
    }
    const info: NixPathInfo = {
      storePath: path,
      narHash: narHash.toString(),
      narSize,
      references: sorted(new Set(references)),
      signatures: [],
      ca: formatContentAddress(method, contentHash),
    };
    await store.addNar(info, nar(), { repair, checkSigs: false, tempRoots: c.tempRoots });
    return (await store.info(path)) ?? info;
  } finally {
    spool.discard();
  }
}

/** "text:sha256", "fixed:r:sha256", "fixed:sha1", ... (what AddToStore sends from 1.25). */
function parseMethodWithAlgo(s: string): { method: "recursive" | "flat" | "text"; algo: HashAlgo } {
  try {
    if (s.startsWith("text:")) return { method: "text", algo: parseHashAlgo(s.slice(5)) };
    if (s.startsWith("fixed:r:")) return { method: "recursive", algo: parseHashAlgo(s.slice(8)) };
    if (s.startsWith("fixed:git:")) throw new OpError(`not implemented: git hashing ('${s}')`);
    if (s.startsWith("fixed:")) return { method: "flat", algo: parseHashAlgo(s.slice(6)) };
  } catch (e) {
    if (e instanceof OpError) throw e;
    throw new OpError((e as Error).message);
  }
  throw new OpError(`unknown content address method '${s}'`);
}

/** The contents of a NAR that must hold a single regular file. */
async function* regularFileOf(nar: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const parts: Uint8Array[] = [];
  let regular = false;
  await readNar(nar, {
    directory() {},
    async file(path, _exec, _size, contents) {
      if (path.length === 0) regular = true;
      for await (const ch of contents) if (path.length === 0) parts.push(new Uint8Array(ch));
    },
    symlink() {},
  });
  if (!regular) throw new OpError("regular file expected");
  yield* parts;
}

op(Op.AddToStore, async (c) => {
  if (c.minor >= 25) {
    const name = await c.r.string();
    const camStr = await c.r.string();
    const refs = await c.r.strings();
    const repair = await c.r.bool();
    c.startWork();
    const source = new FramedSource(c.r);
    let info: NixPathInfo;
    try {
      if (repair && !c.trusted) refuse("repairing is not allowed because you are not in 'trusted-users'");
      const { method, algo } = parseMethodWithAlgo(camStr);
      info = await addContentAddressed(c, name, method, algo, refs, source, repair);
    } finally {
      await source.drain();
    }
    c.stopWork();
    writeValidPathInfo(c.out, c.version, toWire(info));
    return;
  }
  const baseName = await c.r.string();
  const fixed = await c.r.bool();
  const recursiveNum = await c.r.u64();
  let algoName = await c.r.string();
  // the NAR follows raw: read it whole (its end is only known by parsing it)
  const narSpool = await Spool.fill(narExtent(c.r), []);
  c.startWork();
  try {
    if (recursiveNum > 1) refuse(`unsupported FileIngestionMethod with value of ${recursiveNum}; you may need to upgrade nix-daemon`);
    let recursive = recursiveNum === 1;
    if (!fixed) {
      algoName = "sha256";
      recursive = true;
    }
    let algo: HashAlgo;
    try {
      algo = parseHashAlgo(algoName);
    } catch (e) {
      throw new OpError((e as Error).message);
    }
    const dump = recursive ? narSpool.spool.stream() : regularFileOf(narSpool.spool.stream());
    const info = await addContentAddressed(c, baseName, recursive ? "recursive" : "flat", algo, [], dump, false);
    c.stopWork();
    c.out.string(info.storePath);
  } finally {
    narSpool.spool.discard();
  }
});

op(Op.AddTextToStore, async (c) => {
  const suffix = await c.r.string();
  const text = await c.r.bytes();
  const refs = await c.r.strings();
  c.startWork();
  const info = await addContentAddressed(c, suffix, "text", "sha256", refs, (async function* () {
    yield text;
  })(), false);
  c.stopWork();
  c.out.string(info.storePath);
});

op(Op.AddToStoreNar, async (c) => {
  const w = await readValidPathInfo(c.r, c.version);
  const repair = await c.r.bool();
  let dontCheckSigs = await c.r.bool();
  if (!c.trusted) {
    dontCheckSigs = false;
    w.ultimate = false;
  }
  const add = (nar: AsyncIterable<Uint8Array>) =>
    c.store.addNar(fromWire(w), nar, { repair, checkSigs: !dontCheckSigs, tempRoots: c.tempRoots });
  if (c.minor >= 23) {
    c.startWork();
    const source = new FramedSource(c.r);
    try {
      await add(source);
    } finally {
      await source.drain();
    }
  } else if (c.minor >= 21) {
    c.startWork();
    // the NAR comes through STDERR_READ requests; its end is found by parsing it
    const tunnel = new WireReader(tunnelSource(c));
    await add(narExtent(tunnel));
  } else {
    const { spool } = await Spool.fill(narExtent(c.r), []);
    c.startWork();
    try {
      await add(spool.stream());
    } finally {
      spool.discard();
    }
  }
  c.stopWork();
});

/** AddMultipleToStore buffers NARs up to this size to add several at once (larger ones stream, one at a time). */
const PIPELINE_NAR_MAX = 16 * 1024 * 1024;
const PIPELINE_BYTES = 256 * 1024 * 1024;
const PIPELINE_PATHS = 1024;
const narBuffers = new NarBuffers();

op(Op.AddMultipleToStore, async (c) => {
  const repair = await c.r.bool();
  let dontCheckSigs = await c.r.bool();
  if (!c.trusted) dontCheckSigs = false;
  c.startWork();
  // every NAR is copied out of the frames (into its buffer, or by exactBytes())
  const source = new FramedSource(c.r, { copy: false });
  const opts = { repair, checkSigs: !dontCheckSigs, tempRoots: c.tempRoots };
  // Paths are added while later ones are still being read, so that their
  // durable writes share group commits; a path waits for those of its
  // references that are still being added, and fails with them.
  const inflight = new Map<string, Promise<void>>();
  let buffered = 0;
  const reuse = c.store.copiesNarsInMemory;
  let failure: { e: unknown } | null = null;
  /** Wakes the reader waiting for room in the pipeline. */
  let wake: (() => void) | null = null;
  const settle = async () => {
    await Promise.allSettled([...inflight.values()]);
  };
  try {
    const inner = new WireReader(source, { maxBytes: 64 * 1024 * 1024, maxItems: 4_000_000 });
    const count = await inner.u64();
    for (let i = 0; i < count && !failure; i++) {
      const version = Math.max(c.version, 0x110);
      const w = readValidPathInfoNow(inner, version) ?? (await readValidPathInfo(inner, version));
      w.ultimate = false;
      const info = fromWire(w);
      if (w.narSize > PIPELINE_NAR_MAX) {
        await settle();
        if (failure) break;
        const nar = exactBytes(inner, w.narSize);
        try {
          await c.store.addNar(info, nar, opts);
        } finally {
          await drain(nar);
        }
        continue;
      }
      // memory used again once the path is added, where the store keeps copies only
      const held = reuse ? narBuffers.take(w.narSize) : null;
      const bytes = held ? held.bytes : new Uint8Array(Buffer.allocUnsafeSlow(w.narSize).buffer, 0, w.narSize); // every byte is written below
      // hashed as it arrives (the bytes are in the cache now), checked by addNar()
      const nar = new IncomingNar(info, bytes);
      while (nar.missing > 0) nar.append(inner.someNow(nar.missing) ?? (await inner.some(nar.missing)));
      while (inflight.size >= PIPELINE_PATHS || (buffered > PIPELINE_BYTES && inflight.size > 0)) await new Promise<void>((r) => (wake = r));
      const deps = info.references.filter((r) => r !== info.storePath && inflight.has(r)).map((r) => inflight.get(r)!);
      buffered += bytes.length;
      const p = (async () => {
        await Promise.all(deps);
        await c.store.addNar(info, nar, opts);
      })();
      inflight.set(info.storePath, p);
      p.then(
        () => {},
        (e) => (failure ??= { e }),
      ).finally(() => {
        held?.release();
        buffered -= bytes.length;
        if (inflight.get(info.storePath) === p) inflight.delete(info.storePath);
        const w = wake;
        wake = null;
        w?.();
      });
    }
    await settle();
    if (failure) throw (failure as { e: unknown }).e;
  } catch (e) {
    await settle();
    // a malformed list inside well-formed frames is the client's error, not the connection's
    if (e instanceof WireError) {
      await source.drain();
      throw new OpError(`malformed AddMultipleToStore request: ${e.message}`);
    }
    throw e;
  } finally {
    await source.drain();
  }
  c.stopWork();
});

op(Op.ImportPaths, async (c) => {
  c.startWork();
  const r = new WireReader(tunnelSource(c));
  const imported: string[] = [];
  for (;;) {
    const more = await r.u64();
    if (more === 0) break;
    if (more !== 1) throw new WireError("input doesn't look like something created by 'nix-store --export'");
    const { spool, hashes } = await Spool.fill(narExtent(r), ["sha256"]);
    try {
      if ((await r.u64()) !== 0x4558494e) throw new WireError("Nix archive cannot be imported; wrong format");
      const path = await r.string();
      const references = await r.strings();
      const deriver = await r.string();
      if ((await r.u64()) === 1) await r.string(); // an old-style signature, ignored
      const info: NixPathInfo = { storePath: path, narHash: hashes.get("sha256")!.toString(), narSize: spool.size, references, signatures: [] };
      if (deriver) info.deriver = deriver;
      await c.store.addNar(info, spool.stream(), { checkSigs: !c.trusted, tempRoots: c.tempRoots });
      imported.push(path);
    } finally {
      spool.discard();
    }
  }
  c.stopWork();
  c.out.strings(imported);
});

op(Op.ExportPath, async (c) => {
  const path = await c.r.string();
  await c.r.u64(); // sign (obsolete)
  c.startWork();
  const info = await c.store.requireInfo(path);
  for await (const chunk of c.store.store.narFromPath(path)) {
    c.writeData(chunk);
    await c.maybeFlush();
  }
  const tail = new WireWriter().u64(0x4558494e).string(path).strings(sorted(info.references)).string(info.deriver ?? "").u64(0);
  c.writeData(tail.take());
  c.stopWork();
  c.out.u64(1);
});

op(Op.NarFromPath, async (c) => {
  const path = await c.r.string();
  c.startWork();
  const info = await c.store.requireInfo(path);
  c.stopWork();
  await c.flush();
  // the NAR follows unframed; a failure now can only end the connection
  let n = 0;
  for await (const chunk of c.store.store.narFromPath(path)) {
    n += chunk.length;
    c.out.raw(chunk);
    await c.maybeFlush();
  }
  if (n !== info.narSize) throw new Error(`NAR of '${path}' has ${n} bytes, its info says ${info.narSize}`);
});

op(Op.AddSignatures, async (c) => {
  const path = await c.r.string();
  const sigs = await c.r.strings();
  c.startWork();
  if (!c.trusted) refuse("you are not privileged to add signatures");
  await c.store.addSignatures(path, sigs);
  c.stopWork();
  c.out.u64(1);
});

op(Op.AddBuildLog, async (c) => {
  const path = await c.r.string();
  c.startWork();
  const source = new FramedSource(c.r);
  try {
    if (!c.trusted) refuse("you are not privileged to add logs");
    const drvPath = path.includes("/") ? path : `${c.store.storeDir}/${path}`;
    c.store.parse(drvPath);
    const parts: Uint8Array[] = [];
    let size = 0;
    for await (const f of source) {
      size += f.length;
      if (size > 1024 * 1024 * 1024) refuse("build log too large");
      parts.push(f);
    }
    c.store.addBuildLog(drvPath, Buffer.concat(parts));
  } finally {
    await source.drain();
  }
  c.stopWork();
  c.out.u64(1);
});

// ------------------------------------------------------------ roots and garbage collection

op(Op.AddTempRoot, async (c) => {
  const path = await c.r.string();
  c.startWork();
  c.store.parse(path);
  c.tempRoots?.add(path);
  c.stopWork();
  c.out.u64(1);
});

op(Op.AddIndirectRoot, async (c) => {
  const path = await c.r.string();
  c.startWork();
  if (!isAbsolute(path)) refuse(`indirect root '${path}' is not an absolute path`);
  c.store.addIndirectRoot(resolve(path));
  c.stopWork();
  c.out.u64(1);
});

op(Op.AddPermRoot, async (c) => {
  if (!c.trusted) {
    // arguments first, so that the connection stays in step
    await c.r.string();
    await c.r.string();
    c.startWork();
    refuse(
      "you are not privileged to create perm roots\n\nhint: you can just do this client-side without special privileges, and probably want to do that instead.",
    );
  }
  const path = await c.r.string();
  const gcRoot = await c.r.string();
  c.startWork();
  c.store.parse(path);
  if (!(await c.store.isValid(path))) refuse(`path '${path}' is not valid`);
  const abs = c.store.addPermRoot(path, resolve(gcRoot));
  c.stopWork();
  c.out.string(abs);
});

op(Op.SyncWithGC, async (c) => {
  c.startWork();
  c.stopWork();
  c.out.u64(1);
});

op(Op.FindRoots, async (c) => {
  c.startWork();
  const roots = await c.store.findRoots((m) => c.info(m));
  c.stopWork();
  const pairs: [string, string][] = [];
  for (const [path, links] of roots) for (const l of links) pairs.push([c.trusted ? l : "{censored}", path]);
  pairs.sort(([a, p], [b, q]) => (a < b ? -1 : a > b ? 1 : p < q ? -1 : p > q ? 1 : 0));
  c.out.u64(pairs.length);
  for (const [l, p] of pairs) c.out.string(l).string(p);
});

op(Op.CollectGarbage, async (c) => {
  const action = await c.r.u64();
  const paths = await c.r.strings();
  const ignoreLiveness = await c.r.bool();
  const maxFreed = await c.r.u64Big();
  for (let i = 0; i < 3; i++) await c.r.u64(); // obsolete
  c.startWork();
  if (ignoreLiveness) refuse("you are not allowed to ignore liveness");
  const actions = ["return-live", "return-dead", "delete-dead", "delete-specific"] as const;
  if (action > GCAction.DeleteSpecific) refuse(`invalid garbage collector action ${action}`);
  for (const p of paths) c.store.parse(p);
  const res = await c.store.collectGarbage(
    { action: actions[action], paths, maxFreed: maxFreed >= BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(maxFreed) },
    (m) => c.log(m.startsWith("deleting '") ? Verbosity.Talkative : Verbosity.Info, m),
  );
  c.stopWork();
  c.out.strings(res.paths).u64(res.bytesFreed).u64(0);
});

// ------------------------------------------------------------ settings, maintenance

op(Op.SetOptions, async (c) => {
  const s = await readClientSettings(c.r, c.version);
  c.startWork();
  c.settings = s;
  for (const name of s.overrides.keys()) {
    if (c.trusted) continue;
    if (name === "substituters" || name === "extra-substituters") {
      for (const sub of (s.overrides.get(name) ?? "").split(/\s+/).filter((x) => x))
        if (!c.store.settings.trustedSubstituters.includes(sub) && !c.store.settings.substituters.includes(sub)) c.log(Verbosity.Warn, `warning: ignoring untrusted substituter '${sub}'`);
    }
    // other restricted settings from untrusted clients are ignored, as C++ Nix does
  }
  c.stopWork();
});

op(Op.OptimiseStore, async (c) => {
  c.startWork();
  // castore stores each file's contents once already; the view is derived from it
  c.stopWork();
  c.out.u64(1);
});

op(Op.VerifyStore, async (c) => {
  const checkContents = await c.r.bool();
  const repair = await c.r.bool();
  c.startWork();
  if (repair && !c.trusted) refuse("you are not privileged to repair paths");
  const errors = await c.store.verify(checkContents, repair, (m) => c.log(/was modified|cannot/.test(m) ? Verbosity.Error : Verbosity.Info, m));
  c.stopWork();
  c.out.bool(errors);
});

// ------------------------------------------------------------ realisations

op(Op.RegisterDrvOutput, async (c) => {
  let real;
  if (c.minor >= 31) {
    const json = await c.r.string();
    c.startWork();
    try {
      real = realisationFromJson(json);
    } catch (e) {
      throw new OpError((e as Error).message);
    }
  } else {
    const id = await c.r.string();
    const outPath = await c.r.string();
    c.startWork();
    real = { id, outPath, signatures: [], dependentRealisations: {} };
  }
  c.store.parse(real.outPath);
  if (!c.trusted && c.store.settings.requireSigs) refuse(`cannot register realisation '${real.outPath}' because it lacks a signature by a trusted key`);
  c.store.registerRealisation(real);
  c.stopWork();
});

op(Op.QueryRealisation, async (c) => {
  const id = await c.r.string();
  c.startWork();
  const real = c.store.queryRealisation(id);
  c.stopWork();
  if (c.minor >= 31) c.out.strings(real ? [realisationToJson(real)] : []);
  else c.out.strings(real ? [real.outPath.slice(real.outPath.lastIndexOf("/") + 1)] : []);
});

// ------------------------------------------------------------ builds

async function loadDrvClosure(c: Connection, drvPath: string, into: Map<string, Derivation>): Promise<void> {
  if (into.has(drvPath)) return;
  const drv = await c.store.readDerivation(drvPath);
  into.set(drvPath, drv);
  for (const d of drv.inputDrvs.keys()) await loadDrvClosure(c, d, into);
}

/** The "sha256:<hex>" that names a derivation's outputs in realisations (the masked modulo hash). */
async function drvOutputHash(c: Connection, drv: Derivation): Promise<string> {
  const all = new Map<string, Derivation>();
  for (const d of drv.inputDrvs.keys()) await loadDrvClosure(c, d, all);
  return `sha256:${hashDerivationModulo(drv, moduloHashes((p) => all.get(p)!), true).toBase16()}`;
}

function result(status: number, errorMsg = ""): BuildResult {
  const now = Math.floor(Date.now() / 1000);
  return { status, errorMsg, timesBuilt: 0, isNonDeterministic: false, startTime: now, stopTime: now, builtOutputs: new Map() };
}

/** Makes one derived path valid: already there, substituted, or (not yet) built. */
async function realise(c: Connection, target: DerivedPath, mode: number): Promise<BuildResult> {
  const store = c.store;
  if (target.type === "opaque") {
    store.parse(target.path);
    if (await store.isValid(target.path)) {
      if (mode === BuildMode.Repair) await repairFromStore(c, target.path);
      return result(BuildStatus.AlreadyValid);
    }
    if (c.settings.useSubstitutes && (await substituteWithLog(c, target.path))) return result(BuildStatus.Substituted);
    throw new OpError(`path '${target.path}' does not exist and cannot be created`);
  }
  const drvPath = target.drvPath;
  store.parse(drvPath);
  if (!(await store.isValid(drvPath)) && !(c.settings.useSubstitutes && (await substituteWithLog(c, drvPath))))
    throw new OpError(`path '${drvPath}' is not valid`);
  const drv = await store.readDerivation(drvPath);
  const names = target.outputs ?? [...drv.outputs.keys()];
  for (const n of names) if (!drv.outputs.has(n)) throw new OpError(`derivation '${drvPath}' does not have an output named '${n}'`);
  const wanted = names.map((n) => [n, drv.outputs.get(n)!.path] as const);
  const missing = [];
  for (const [n, p] of wanted) if (p === "" || !(await store.isValid(p))) missing.push(n);
  const realisations = async (r: BuildResult) => {
    if (r.builtOutputs.size > 0) return r;
    const h = await drvOutputHash(c, drv);
    for (const [n, p] of wanted) if (p) r.builtOutputs.set(n, { id: `${h}!${n}`, outPath: p, signatures: [], dependentRealisations: {} });
    return r;
  };
  if (missing.length === 0 && mode === BuildMode.Normal) return realisations(result(BuildStatus.AlreadyValid));
  if (mode === BuildMode.Normal && c.settings.useSubstitutes && missing.every((n) => drv.outputs.get(n)!.path !== "")) {
    let all = true;
    for (const n of missing) if (!(await store.substitutableInfo(drv.outputs.get(n)!.path))) all = false;
    if (all) {
      for (const n of missing) await substituteWithLog(c, drv.outputs.get(n)!.path);
      return realisations(result(BuildStatus.Substituted));
    }
  }
  const r = await build(c, drvPath, store.toBasic(drv), target.outputs, mode);
  return realisations(r);
}

/** Rewrites a valid path's files on disk from the store (BuildMode.Repair of an opaque path). */
async function repairFromStore(c: Connection, path: string): Promise<void> {
  await c.store.rewriteOnDisk(path);
}

async function build(c: Connection, drvPath: string, basic: BasicDerivation, outputs: string[] | null, mode: number, localOnly = false): Promise<BuildResult> {
  const act = c.startActivity(ActivityType.Build, `building '${drvPath}'`, [drvPath, "", 1, 1]);
  const hangUp = c.watchHangUp();
  try {
    return await c.store.builder.build({
      drvPath,
      drv: basic,
      outputs,
      mode,
      localOnly,
      signal: hangUp.signal,
      log: {
        line: (text) => c.result(act, ResultType.BuildLogLine, [text]),
        phase: (name) => c.result(act, ResultType.SetPhase, [name]),
      },
    });
  } catch (e) {
    if (e instanceof BuildNotImplemented) throw new OpError(e.message);
    throw e;
  } finally {
    hangUp.stop();
    c.stopActivity(act);
  }
}

/** The targets of BuildPaths(WithResults); repairing (not atomic) is for trusted clients only, as in C++ Nix. */
function buildTargets(c: Connection, raw: string[], mode: number): DerivedPath[] {
  if (mode === BuildMode.Repair && !c.trusted) refuse("repairing is not allowed because you are not in 'trusted-users'");
  return readDerivedPaths(c, raw);
}

function readDerivedPaths(c: Connection, raw: string[]): DerivedPath[] {
  return raw.map((s) => {
    try {
      return parseDerivedPath(s, c.version);
    } catch (e) {
      throw new OpError((e as Error).message);
    }
  });
}

function checkBuildFailed(target: string, r: BuildResult): void {
  if (r.status <= BuildStatus.AlreadyValid || r.status === BuildStatus.ResolvesToAlreadyValid) return;
  throw new OpError(r.errorMsg || `build of '${target}' failed`);
}

op(Op.BuildPaths, async (c) => {
  const raw = await c.r.strings();
  const mode = c.minor >= 15 ? await c.r.u64() : BuildMode.Normal;
  c.startWork();
  const targets = buildTargets(c, raw, mode);
  for (const t of targets) checkBuildFailed(formatDerivedPath(t, c.version), await realise(c, t, mode));
  c.stopWork();
  c.out.u64(1);
});

op(Op.BuildPathsWithResults, async (c) => {
  const raw = await c.r.strings();
  const mode = await c.r.u64();
  c.startWork();
  const targets = buildTargets(c, raw, mode);
  const results: [string, BuildResult][] = [];
  for (let i = 0; i < targets.length; i++) results.push([raw[i], await realise(c, targets[i], mode)]);
  c.stopWork();
  c.out.u64(results.length);
  for (const [p, r] of results) writeBuildResult(c.out.string(p), c.version, r);
});

op(Op.QueryMissing, async (c) => {
  const raw = await c.r.strings();
  c.startWork();
  const m = await c.store.queryMissing(readDerivedPaths(c, raw));
  c.stopWork();
  c.out.strings(sorted(m.willBuild)).strings(sorted(m.willSubstitute)).strings(sorted(m.unknown)).u64(m.downloadSize).u64(m.narSize);
});

op(Op.EnsurePath, async (c) => {
  const path = await c.r.string();
  c.startWork();
  checkBuildFailed(path, await realise(c, { type: "opaque", path }, BuildMode.Normal));
  c.stopWork();
  c.out.u64(1);
});

op(Op.BuildDerivation, async (c) => {
  const drvPath = await c.r.string();
  const basic = await readBasicDerivation(c.r);
  const mode = await c.r.u64();
  c.startWork();
  c.store.parse(drvPath);
  const fixed = basic.outputs.size === 1 && !!basic.outputs.get("out")?.hash;
  const ca = fixed || [...basic.outputs.values()].every((o) => o.hashAlgo !== "");
  if (!ca && !c.trusted) refuse("you are not privileged to build input-addressed derivations");
  let res: BuildResult;
  const known = [...basic.outputs.values()].map((o) => o.path);
  const valid = known.every((p) => p !== "") && (await Promise.all(known.map((p) => c.store.isValid(p)))).every((v) => v);
  if (valid && mode === BuildMode.Normal) res = result(BuildStatus.AlreadyValid);
  else res = await build(c, drvPath, basic, null, mode, true);
  c.stopWork();
  writeBuildResult(c.out, c.version, res);
});

