// The nix-daemon worker protocol (shared/docs/seed/nix-daemon/*.md): magics,
// versions, operation codes, log message tags, enums, and the serialisers
// of its compound values (path infos, errors, log fields, derivations, build
// results, client settings, derived paths, realisations), plus both sides of
// the handshake. Used by the client (stores/daemon-client.ts) and by the
// listener (daemon/). Wire primitives are in core/wire.ts; this module does
// no I/O beyond the WireReader it is handed and the bytes it returns.
import { WireError, WireReader, WireWriter } from "./wire";

export const WORKER_MAGIC_1 = 0x6e697863;
export const WORKER_MAGIC_2 = 0x6478696f;

/** A protocol version as it travels: major << 8 | minor. */
export const protocolVersion = (minor: number, major = 1): number => (major << 8) | minor;
export const minorOf = (v: number): number => v & 0xff;
export const majorOf = (v: number): number => (v >> 8) & 0xff;
export const formatVersion = (v: number): string => `${majorOf(v)}.${minorOf(v)}`;

/**
 * What the listener offers: 1.38, the first version with the feature
 * exchange (it speaks no optional feature). Clients from Nix 2.3 (1.21) to
 * 2.26 (1.37) negotiate their own version.
 */
export const SERVER_PROTOCOL = protocolVersion(38);
/** The oldest client version the listener accepts (C++ Nix's own minimum). */
export const MIN_CLIENT_PROTOCOL = protocolVersion(10);
/** What the client offers (Nix 2.15's version). */
export const CLIENT_PROTOCOL = protocolVersion(35);
/** Features this implementation speaks, exchanged from 1.38 on (none yet). */
export const SUPPORTED_FEATURES: readonly string[] = [];

export const Op = {
  IsValidPath: 1,
  HasSubstitutes: 3,
  QueryPathHash: 4,
  QueryReferences: 5,
  QueryReferrers: 6,
  AddToStore: 7,
  AddTextToStore: 8,
  BuildPaths: 9,
  EnsurePath: 10,
  AddTempRoot: 11,
  AddIndirectRoot: 12,
  SyncWithGC: 13,
  FindRoots: 14,
  ExportPath: 16,
  QueryDeriver: 18,
  SetOptions: 19,
  CollectGarbage: 20,
  QuerySubstitutablePathInfo: 21,
  QueryDerivationOutputs: 22,
  QueryAllValidPaths: 23,
  QueryPathInfo: 26,
  ImportPaths: 27,
  QueryDerivationOutputNames: 28,
  QueryPathFromHashPart: 29,
  QuerySubstitutablePathInfos: 30,
  QueryValidPaths: 31,
  QuerySubstitutablePaths: 32,
  QueryValidDerivers: 33,
  OptimiseStore: 34,
  VerifyStore: 35,
  BuildDerivation: 36,
  AddSignatures: 37,
  NarFromPath: 38,
  AddToStoreNar: 39,
  QueryMissing: 40,
  QueryDerivationOutputMap: 41,
  RegisterDrvOutput: 42,
  QueryRealisation: 43,
  AddMultipleToStore: 44,
  AddBuildLog: 45,
  BuildPathsWithResults: 46,
  AddPermRoot: 47,
} as const;
export type OpName = keyof typeof Op;

const opNames = new Map<number, OpName>(Object.entries(Op).map(([k, v]) => [v, k as OpName]));
export function opName(op: number): string {
  return opNames.get(op) ?? `unknown operation ${op}`;
}

export const Stderr = {
  NEXT: 0x6f6c6d67,
  READ: 0x64617461,
  WRITE: 0x64617416,
  LAST: 0x616c7473,
  ERROR: 0x63787470,
  START_ACTIVITY: 0x53545254,
  STOP_ACTIVITY: 0x53544f50,
  RESULT: 0x52534c54,
} as const;

export const Verbosity = { Error: 0, Warn: 1, Notice: 2, Info: 3, Talkative: 4, Chatty: 5, Debug: 6, Vomit: 7 } as const;
export const BuildMode = { Normal: 0, Repair: 1, Check: 2 } as const;
export const GCAction = { ReturnLive: 0, ReturnDead: 1, DeleteDead: 2, DeleteSpecific: 3 } as const;
export const BuildStatus = {
  Built: 0,
  Substituted: 1,
  AlreadyValid: 2,
  PermanentFailure: 3,
  InputRejected: 4,
  OutputRejected: 5,
  TransientFailure: 6,
  CachedFailure: 7,
  TimedOut: 8,
  MiscFailure: 9,
  DependencyFailed: 10,
  LogLimitExceeded: 11,
  NotDeterministic: 12,
  ResolvesToAlreadyValid: 13,
  NoSubstituters: 14,
} as const;
export const ActivityType = {
  Unknown: 0,
  CopyPath: 100,
  FileTransfer: 101,
  Realise: 102,
  CopyPaths: 103,
  Builds: 104,
  Build: 105,
  OptimiseStore: 106,
  VerifyPaths: 107,
  Substitute: 108,
  QueryPathInfo: 109,
  PostBuildHook: 110,
  BuildWaiting: 111,
  FetchTree: 112,
} as const;
export const ResultType = {
  FileLinked: 100,
  BuildLogLine: 101,
  UntrustedPath: 102,
  CorruptedPath: 103,
  SetPhase: 104,
  Progress: 105,
  SetExpected: 106,
  PostBuildLogLine: 107,
  FetchStatus: 108,
} as const;
/** The handshake's "does the daemon trust you" answer (1.35+). */
export const TrustedFlag = { Unknown: 0, Trusted: 1, NotTrusted: 2 } as const;

// ---------------------------------------------------------------- path infos

/** A path info as the protocol carries it (the NAR hash as a sha256 digest in base16). */
export interface WirePathInfo {
  path: string;
  /** "" when there is none. */
  deriver: string;
  /** Base16 sha256 digest, no algorithm prefix. */
  narHash: string;
  references: string[];
  registrationTime: number;
  narSize: number;
  ultimate: boolean;
  signatures: string[];
  /** "" when the path is not content-addressed. */
  ca: string;
}

/** UnkeyedValidPathInfo (the fields from 1.16 on only when the version has them). */
export function writeUnkeyedPathInfo(w: WireWriter, version: number, i: WirePathInfo): WireWriter {
  w.string(i.deriver).string(i.narHash).strings(i.references).u64(Math.max(0, Math.floor(i.registrationTime))).u64(i.narSize);
  if (minorOf(version) >= 16) w.bool(i.ultimate).strings(i.signatures).string(i.ca);
  return w;
}

export async function readUnkeyedPathInfo(r: WireReader, version: number, path: string): Promise<WirePathInfo> {
  const deriver = await r.string();
  const narHash = await r.string();
  const references = await r.strings();
  const registrationTime = await r.u64();
  const narSize = await r.u64();
  const info: WirePathInfo = { path, deriver, narHash, references, registrationTime, narSize, ultimate: false, signatures: [], ca: "" };
  if (minorOf(version) >= 16) {
    info.ultimate = await r.bool();
    info.signatures = await r.strings();
    info.ca = await r.string();
  }
  return info;
}

/** ValidPathInfo: the path, then the unkeyed fields. */
export function writeValidPathInfo(w: WireWriter, version: number, i: WirePathInfo): WireWriter {
  return writeUnkeyedPathInfo(w.string(i.path), version, i);
}

/** readValidPathInfo() when all of it is at hand already (else undefined, nothing consumed). */
export function readValidPathInfoNow(r: WireReader, version: number): WirePathInfo | undefined {
  return r.tryValues((c) => {
    const path = c.string();
    const deriver = c.string();
    const narHash = c.string();
    const references = c.strings();
    const registrationTime = c.u64();
    const narSize = c.u64();
    const info: WirePathInfo = { path, deriver, narHash, references, registrationTime, narSize, ultimate: false, signatures: [], ca: "" };
    if (minorOf(version) >= 16) {
      info.ultimate = c.bool();
      info.signatures = c.strings();
      info.ca = c.string();
    }
    return info;
  });
}

export async function readValidPathInfo(r: WireReader, version: number): Promise<WirePathInfo> {
  const path = await r.string();
  return readUnkeyedPathInfo(r, version, path);
}

// ---------------------------------------------------------------- errors and logging

export interface WireErrorInfo {
  message: string;
  /** Verbosity level (Error unless said otherwise). */
  level?: number;
  /** Extra lines shown under the message ("… while ..."). */
  traces?: string[];
  /** Exit status for clients older than 1.26 (1 unless said otherwise). */
  status?: number;
}

/** STDERR_ERROR and its payload: a serialised Error from 1.26 on, else message + status. */
export function writeStderrError(w: WireWriter, version: number, e: WireErrorInfo): WireWriter {
  w.u64(Stderr.ERROR);
  if (minorOf(version) >= 26) {
    w.string("Error").u64(e.level ?? Verbosity.Error).string("Error").string(e.message).u64(0);
    const traces = e.traces ?? [];
    w.u64(traces.length);
    for (const t of traces) w.u64(0).string(t);
  } else {
    w.string(e.message).u64(e.status ?? 1);
  }
  return w;
}

/** Reads an STDERR_ERROR payload (the tag already read). */
export async function readStderrError(r: WireReader, version: number): Promise<WireErrorInfo> {
  if (minorOf(version) >= 26) {
    const type = await r.string();
    if (type !== "Error") throw new WireError(`unexpected error type '${type}' from the peer`);
    const level = await r.u64();
    await r.string(); // name, always "Error"
    const message = await r.string();
    if ((await r.u64()) !== 0) throw new WireError("error positions are not part of the protocol");
    const n = await r.u64();
    const traces: string[] = [];
    for (let i = 0; i < n; i++) {
      if ((await r.u64()) !== 0) throw new WireError("error positions are not part of the protocol");
      traces.push(await r.string());
    }
    return { message, level, traces };
  }
  const message = await r.string();
  const status = await r.u64();
  return { message, status };
}

/** An activity or result field: a number (u64) or a string. */
export type LogField = number | bigint | string;

export function writeFields(w: WireWriter, fields: readonly LogField[]): WireWriter {
  w.u64(fields.length);
  for (const f of fields) {
    if (typeof f === "string") w.u64(1).string(f);
    else w.u64(0).u64(f);
  }
  return w;
}

export async function readFields(r: WireReader): Promise<LogField[]> {
  const n = await r.u64();
  const out: LogField[] = [];
  for (let i = 0; i < n; i++) {
    const type = await r.u64();
    if (type === 0) out.push(await r.u64Big());
    else if (type === 1) out.push(await r.string());
    else throw new WireError(`unknown log field type ${type}`);
  }
  return out;
}

/** A log message from the daemon, as the client reads it (STDERR_LAST and ERROR are handled by the caller). */
export type StderrMessage =
  | { type: "next"; text: string }
  | { type: "start"; id: bigint; level: number; activity: number; text: string; fields: LogField[]; parent: bigint }
  | { type: "stop"; id: bigint }
  | { type: "result"; id: bigint; result: number; fields: LogField[] }
  | { type: "write"; data: Uint8Array }
  | { type: "read"; length: number };

/** Reads the body of one log message whose tag is `tag` (not LAST or ERROR). */
export async function readStderrMessage(r: WireReader, tag: number): Promise<StderrMessage> {
  switch (tag) {
    case Stderr.NEXT:
      return { type: "next", text: await r.string() };
    case Stderr.START_ACTIVITY: {
      const id = await r.u64Big();
      const level = await r.u64();
      const activity = await r.u64();
      const text = await r.string();
      const fields = await readFields(r);
      const parent = await r.u64Big();
      return { type: "start", id, level, activity, text, fields, parent };
    }
    case Stderr.STOP_ACTIVITY:
      return { type: "stop", id: await r.u64Big() };
    case Stderr.RESULT: {
      const id = await r.u64Big();
      const result = await r.u64();
      return { type: "result", id, result, fields: await readFields(r) };
    }
    case Stderr.WRITE:
      return { type: "write", data: await r.bytes() };
    case Stderr.READ:
      return { type: "read", length: await r.u64() };
    default:
      throw new WireError(`unknown log message 0x${tag.toString(16)}`);
  }
}

// ---------------------------------------------------------------- client settings

export interface ClientSettings {
  keepFailed: boolean;
  keepGoing: boolean;
  tryFallback: boolean;
  verbosity: number;
  maxBuildJobs: number;
  maxSilentTime: number;
  verboseBuild: boolean;
  buildCores: number;
  useSubstitutes: boolean;
  /** Other settings by name (1.12+). */
  overrides: Map<string, string>;
}

export const DEFAULT_CLIENT_SETTINGS: ClientSettings = {
  keepFailed: false,
  keepGoing: false,
  tryFallback: false,
  verbosity: Verbosity.Info,
  maxBuildJobs: 1,
  maxSilentTime: 0,
  verboseBuild: true,
  buildCores: 0,
  useSubstitutes: true,
  overrides: new Map(),
};

/** SetOptions' arguments. Fields some versions had (use-atime, max-atime) are skipped. */
export async function readClientSettings(r: WireReader, version: number): Promise<ClientSettings> {
  const minor = minorOf(version);
  const keepFailed = await r.bool();
  const keepGoing = await r.bool();
  const tryFallback = await r.bool();
  const verbosity = await r.u64();
  const maxBuildJobs = await r.u64();
  const maxSilentTime = await r.u64();
  if (minor >= 2) await r.u64(); // useBuildHook (obsolete)
  let verboseBuild = true;
  if (minor >= 4) {
    verboseBuild = (await r.u64()) === Verbosity.Error;
    await r.u64(); // logType (obsolete)
    await r.u64(); // printBuildTrace (obsolete)
  }
  let buildCores = 0;
  if (minor >= 6) buildCores = await r.u64();
  let useSubstitutes = true;
  if (minor >= 10) useSubstitutes = await r.bool();
  let overrides = new Map<string, string>();
  if (minor >= 12) overrides = await r.stringMap();
  return { keepFailed, keepGoing, tryFallback, verbosity, maxBuildJobs, maxSilentTime, verboseBuild, buildCores, useSubstitutes, overrides };
}

export function writeClientSettings(w: WireWriter, version: number, s: ClientSettings): WireWriter {
  const minor = minorOf(version);
  w.bool(s.keepFailed).bool(s.keepGoing).bool(s.tryFallback).u64(s.verbosity).u64(s.maxBuildJobs).u64(s.maxSilentTime);
  if (minor >= 2) w.u64(1);
  if (minor >= 4) w.u64(s.verboseBuild ? Verbosity.Error : Verbosity.Vomit).u64(0).u64(0);
  if (minor >= 6) w.u64(s.buildCores);
  if (minor >= 10) w.bool(s.useSubstitutes);
  if (minor >= 12) w.stringMap(s.overrides);
  return w;
}

// ---------------------------------------------------------------- derived paths

/** An opaque store path, or outputs of a derivation (`outputs` null for all of them). */
export type DerivedPath = { type: "opaque"; path: string } | { type: "built"; drvPath: string; outputs: string[] | null };

/**
 * Parses a derived path as the protocol sends it: "path", "drv!out1,out2"
 * or "drv!*". Before 1.30 (StorePathWithOutputs) a bare .drv path means all
 * of its outputs; from 1.30 on it means the .drv file itself.
 */
export function parseDerivedPath(s: string, version: number): DerivedPath {
  const bang = s.indexOf("!");
  if (bang < 0) {
    if (minorOf(version) < 30 && s.endsWith(".drv")) return { type: "built", drvPath: s, outputs: null };
    return { type: "opaque", path: s };
  }
  const drvPath = s.slice(0, bang);
  const outs = s.slice(bang + 1);
  if (outs === "*") return { type: "built", drvPath, outputs: null };
  const outputs = outs.split(",").filter((o) => o !== "");
  if (outputs.length === 0) {
    if (minorOf(version) < 30) return { type: "built", drvPath, outputs: null };
    throw new Error(`derived path '${s}' names no outputs`);
  }
  return { type: "built", drvPath, outputs };
}

export function formatDerivedPath(p: DerivedPath, version: number): string {
  if (p.type === "opaque") return p.path;
  if (p.outputs === null) return minorOf(version) >= 30 ? `${p.drvPath}!*` : p.drvPath;
  return `${p.drvPath}!${p.outputs.join(",")}`;
}

// ---------------------------------------------------------------- derivations and builds

/** A derivation without its input derivations, as BuildDerivation sends it. */
export interface BasicDerivation {
  /** name -> path ("" when not known), hashAlgo ("[r:|text:]algo" or ""), hash (base16 or ""). */
  outputs: Map<string, { path: string; hashAlgo: string; hash: string }>;
  inputSrcs: string[];
  platform: string;
  builder: string;
  args: string[];
  env: Map<string, string>;
}

export async function readBasicDerivation(r: WireReader): Promise<BasicDerivation> {
  const n = await r.u64();
  if (n > r.limits.maxItems) throw new WireError(`refusing a derivation with ${n} outputs`);
  const outputs = new Map<string, { path: string; hashAlgo: string; hash: string }>();
  for (let i = 0; i < n; i++) {
    const name = await r.string();
    outputs.set(name, { path: await r.string(), hashAlgo: await r.string(), hash: await r.string() });
  }
  const inputSrcs = await r.strings();
  const platform = await r.string();
  const builder = await r.string();
  const args = await r.strings();
  const env = await r.stringMap();
  return { outputs, inputSrcs, platform, builder, args, env };
}

export function writeBasicDerivation(w: WireWriter, d: BasicDerivation): WireWriter {
  const outs = [...d.outputs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  w.u64(outs.length);
  for (const [name, o] of outs) w.string(name).string(o.path).string(o.hashAlgo).string(o.hash);
  return w.strings(d.inputSrcs).string(d.platform).string(d.builder).strings(d.args).stringMap(d.env);
}

/** A realisation of a content-addressed derivation output ("sha256:<hex>!out"). */
export interface Realisation {
  id: string;
  outPath: string;
  signatures: string[];
  dependentRealisations: Record<string, string>;
}

export function realisationToJson(r: Realisation): string {
  return JSON.stringify({ id: r.id, outPath: r.outPath, signatures: r.signatures, dependentRealisations: r.dependentRealisations });
}

export function realisationFromJson(s: string): Realisation {
  let o: any;
  try {
    o = JSON.parse(s);
  } catch (e) {
    throw new Error(`invalid realisation: ${(e as Error).message}`);
  }
  if (typeof o?.id !== "string" || typeof o.outPath !== "string") throw new Error("invalid realisation: needs 'id' and 'outPath'");
  if (!/^[a-z0-9]+:[0-9a-z]+![^!]+$/.test(o.id)) throw new Error(`invalid derivation output id '${o.id}'`);
  return {
    id: o.id,
    outPath: o.outPath,
    signatures: Array.isArray(o.signatures) ? o.signatures.map(String) : [],
    dependentRealisations: o.dependentRealisations && typeof o.dependentRealisations === "object" ? o.dependentRealisations : {},
  };
}

export interface BuildResult {
  status: number;
  errorMsg: string;
  timesBuilt: number;
  isNonDeterministic: boolean;
  /** Seconds since the epoch. */
  startTime: number;
  stopTime: number;
  /** Microseconds, when known. */
  cpuUser?: number;
  cpuSystem?: number;
  /** Output name -> realisation. */
  builtOutputs: Map<string, Realisation>;
}

export function writeBuildResult(w: WireWriter, version: number, b: BuildResult): WireWriter {
  const minor = minorOf(version);
  w.u64(b.status).string(b.errorMsg);
  if (minor >= 29) w.u64(b.timesBuilt).bool(b.isNonDeterministic).u64(b.startTime).u64(b.stopTime);
  if (minor >= 37) {
    for (const us of [b.cpuUser, b.cpuSystem]) {
      if (us === undefined) w.u64(0);
      else w.u64(1).u64(Math.round(us));
    }
  }
  if (minor >= 28) {
    w.u64(b.builtOutputs.size);
    for (const r of b.builtOutputs.values()) w.string(r.id).string(realisationToJson(r));
  }
  return w;
}

export async function readBuildResult(r: WireReader, version: number): Promise<BuildResult> {
  const minor = minorOf(version);
  const res: BuildResult = { status: await r.u64(), errorMsg: await r.string(), timesBuilt: 0, isNonDeterministic: false, startTime: 0, stopTime: 0, builtOutputs: new Map() };
  if (minor >= 29) {
    res.timesBuilt = await r.u64();
    res.isNonDeterministic = await r.bool();
    res.startTime = await r.u64();
    res.stopTime = await r.u64();
  }
  if (minor >= 37) {
    if (await r.u64()) res.cpuUser = await r.u64();
    if (await r.u64()) res.cpuSystem = await r.u64();
  }
  if (minor >= 28) {
    const n = await r.u64();
    for (let i = 0; i < n; i++) {
      const id = await r.string();
      const real = realisationFromJson(await r.string());
      res.builtOutputs.set(id.slice(id.lastIndexOf("!") + 1), real);
    }
  }
  return res;
}

// ---------------------------------------------------------------- handshake

export interface ServerHandshake {
  /** The version the client sent. */
  clientVersion: number;
  /** What this connection speaks: min(client's, ours). */
  version: number;
  /** Features both sides speak (1.38+). */
  features: string[];
}

/**
 * The listener's side of the handshake up to the version exchange:
 * magic 1 in, magic 2 and our version out, the client's version in, the
 * features (1.38+), then the obsolete CPU affinity and reserveSpace fields.
 * `send` writes bytes to the client. The caller then sends the daemon info
 * (writeHandshakeInfo) and an STDERR_LAST.
 */
export async function serverHandshake(r: WireReader, send: (b: Uint8Array) => Promise<void>, ours = SERVER_PROTOCOL, features: readonly string[] = SUPPORTED_FEATURES): Promise<ServerHandshake> {
  const magic = await r.u64Big();
  if (magic !== BigInt(WORKER_MAGIC_1)) throw new WireError("protocol mismatch (not a Nix client: wrong magic)");
  await send(new WireWriter().u64(WORKER_MAGIC_2).u64(ours).take());
  const clientVersion = await r.u64();
  if (majorOf(clientVersion) !== majorOf(ours)) throw new WireError(`unsupported client protocol ${formatVersion(clientVersion)}`);
  if (clientVersion < MIN_CLIENT_PROTOCOL) throw new WireError("the Nix client version is too old");
  const version = Math.min(clientVersion, ours);
  let common: string[] = [];
  if (minorOf(version) >= 38) {
    const theirs = await r.strings();
    await send(new WireWriter().strings(features).take());
    common = features.filter((f) => theirs.includes(f));
  }
  if (minorOf(version) >= 14 && (await r.u64()) !== 0) await r.u64(); // CPU affinity (obsolete)
  if (minorOf(version) >= 11) await r.u64(); // reserveSpace (obsolete)
  return { clientVersion, version, features: common };
}

/** The daemon's Nix version (1.33+) and whether it trusts the client (1.35+). */
export function writeHandshakeInfo(w: WireWriter, version: number, nixVersion: string, trusted: boolean | undefined): WireWriter {
  if (minorOf(version) >= 33) w.string(nixVersion);
  if (minorOf(version) >= 35) w.u64(trusted === undefined ? TrustedFlag.Unknown : trusted ? TrustedFlag.Trusted : TrustedFlag.NotTrusted);
  return w;
}

export interface ClientHandshake {
  version: number;
  daemonVersion: number;
  features: string[];
  daemonNixVersion?: string;
  trusted?: boolean;
}

/** The client's side, up to (not including) the daemon's first log messages and STDERR_LAST. */
export async function clientHandshake(r: WireReader, send: (b: Uint8Array) => Promise<void>, ours = CLIENT_PROTOCOL, features: readonly string[] = SUPPORTED_FEATURES): Promise<ClientHandshake> {
  await send(new WireWriter().u64(WORKER_MAGIC_1).take());
  const magic = await r.u64Big();
  if (magic !== BigInt(WORKER_MAGIC_2)) throw new WireError("the daemon speaks a different protocol (bad magic)");
  const daemonVersion = await r.u64();
  if (majorOf(daemonVersion) !== majorOf(ours)) throw new WireError(`unsupported daemon protocol major version ${majorOf(daemonVersion)}`);
  const version = Math.min(daemonVersion, ours);
  const w = new WireWriter().u64(ours);
  let common: string[] = [];
  if (minorOf(version) >= 38) {
    await send(w.strings(features).take());
    const theirs = await r.strings();
    common = features.filter((f) => theirs.includes(f));
  }
  if (minorOf(version) >= 14) w.u64(0); // no CPU affinity
  if (minorOf(version) >= 11) w.u64(0); // reserveSpace = false
  await send(w.take());
  const out: ClientHandshake = { version, daemonVersion, features: common };
  if (minorOf(version) >= 33) out.daemonNixVersion = await r.string();
  if (minorOf(version) >= 35) {
    const t = await r.u64();
    out.trusted = t === TrustedFlag.Trusted ? true : t === TrustedFlag.NotTrusted ? false : undefined;
  }
  return out;
}
