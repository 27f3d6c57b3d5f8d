// A client of the nix-daemon worker protocol, over a unix socket
// (unix:///path/to/socket, daemon://) or over the stdin/stdout of a program
// run through ssh (ssh-ng://host: `nix-daemon --stdio`, or `tvix store
// daemon --stdio`, on the other machine; stores/ssh.ts). The handshake,
// log/stderr messages, and the operations stores and remote builds need:
// QueryPathInfo, QueryValidPaths, NarFromPath, AddToStoreNar and
// AddMultipleToStore (framed, protocol >= 1.23 / 1.32), BuildDerivation,
// SetOptions, QueryAllValidPaths, CollectGarbage, FindRoots. See
// shared/docs/seed/nix-daemon/*.md; wire primitives are in core/wire.ts.
import { createConnection, Socket } from "node:net";
import { Hash } from "../core/hash";
import { StorePath } from "../core/store-path";
import { WireReader, WireWriter, writeFramed } from "../core/wire";
import {
  CLIENT_PROTOCOL,
  Op,
  Stderr,
  clientHandshake,
  minorOf,
  readBuildResult,
  readStderrError,
  readStderrMessage,
  readUnkeyedPathInfo,
  writeBasicDerivation,
  writeClientSettings,
  writeValidPathInfo,
  type BasicDerivation,
  type BuildResult,
  type ClientSettings,
  type LogField,
} from "../core/daemon-protocol";
import type { NixPathInfo, NixStore } from "./types";
import { registerStoreScheme } from "./url";
import { NotImplemented, SignatureChecking, parseBool, storeParams, stripParams } from "./binary-cache";
import { verifyStream } from "./stream-util";
import { spawnRemote, shellQuote, type SshTarget } from "./ssh";

export { CLIENT_PROTOCOL };

export class DaemonError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "DaemonError";
  }
}

/** A log message from the daemon: plain lines, activities, and results (`result` is its ResultType: 101 a build log line). */
export type DaemonLog = (msg: { type: "log" | "activity" | "result"; text: string; result?: number; fields?: LogField[] }) => void;

/** The byte stream a connection runs on. */
export interface DaemonTransport {
  readonly input: AsyncIterable<Uint8Array>;
  /** Resolves once the bytes are handed on (waits for drain); rejects when the other side is gone. */
  write(b: Uint8Array): Promise<void>;
  /** Ends the connection; `now`: without letting the other side finish (an aborted operation). */
  close(now?: boolean): void;
  /** What the other side said on the way (ssh's stderr), for error messages. */
  diagnostics?(): string;
}

function socketTransport(socket: Socket): DaemonTransport {
  socket.on("error", () => {}); // surfaced through reads/writes
  return {
    input: socket,
    write: (b) => writeStream(socket, b),
    close: () => socket.destroy(),
  };
}

function writeStream(s: NodeJS.WritableStream & { destroyed?: boolean; writable?: boolean }, b: Uint8Array): Promise<void> {
  if (s.destroyed || s.writable === false) return Promise.reject(new DaemonError("the connection to the Nix daemon is closed"));
  if (s.write(b)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (e?: Error) => {
      s.off("drain", done);
      s.off("close", closed);
      if (e) reject(e);
      else resolve();
    };
    const closed = () => done(new DaemonError("the Nix daemon closed the connection"));
    s.on("drain", done);
    s.on("close", closed);
  });
}

/** One connection to the daemon, after the handshake. Not safe for concurrent operations. */
export class DaemonConnection {
  readonly reader: WireReader;
  version = 0;
  daemonNixVersion?: string;
  trusted?: boolean;
  broken = false;

  private constructor(private transport: DaemonTransport, private onLog: DaemonLog, private offer: number) {
    this.reader = new WireReader(transport.input, { maxBytes: 256 * 1024 * 1024 });
  }

  /** `offer`: the protocol version to offer (tests speak older ones). */
  static async connect(path: string, onLog: DaemonLog = () => {}, offer = CLIENT_PROTOCOL): Promise<DaemonConnection> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(path);
      s.once("connect", () => resolve(s));
      s.once("error", (e) => reject(new DaemonError(`cannot connect to the Nix daemon at '${path}': ${e.message}`)));
    });
    return DaemonConnection.open(socketTransport(socket), onLog, offer);
  }

  /** The handshake over any transport (closed again when it fails). */
  static async open(transport: DaemonTransport, onLog: DaemonLog = () => {}, offer = CLIENT_PROTOCOL): Promise<DaemonConnection> {
    const conn = new DaemonConnection(transport, onLog, offer);
    try {
      await conn.handshake();
    } catch (e) {
      transport.close();
      throw e;
    }
    return conn;
  }

  private async handshake(): Promise<void> {
    const h = await clientHandshake(this.reader, (b) => this.send(b), this.offer);
    if (minorOf(h.daemonVersion) < 17) throw new DaemonError(`the daemon's protocol 1.${minorOf(h.daemonVersion)} is too old (need >= 1.17)`);
    this.version = h.version;
    this.daemonNixVersion = h.daemonNixVersion;
    this.trusted = h.trusted;
    await this.processStderr();
  }

  get protocolMinor(): number {
    return minorOf(this.version);
  }

  /** What the other side said outside the protocol (ssh's stderr), or "". */
  diagnostics(): string {
    return this.transport.diagnostics?.() ?? "";
  }

  async send(w: WireWriter | Uint8Array): Promise<void> {
    await this.transport.write(w instanceof WireWriter ? w.take() : w);
  }

  /**
   * Reads log messages up to STDERR_LAST; throws DaemonError for STDERR_ERROR.
   * `io` answers STDERR_READ (data the daemon asks for), takes STDERR_WRITE,
   * and may take this operation's log messages instead of the connection's logger.
   */
  async processStderr(io: { read?(n: number): Uint8Array; write?(b: Uint8Array): void; onLog?: DaemonLog } = {}): Promise<void> {
    const r = this.reader;
    const log = io.onLog ?? this.onLog;
    for (;;) {
      const tag = await r.u64();
      if (tag === Stderr.LAST) return;
      if (tag === Stderr.ERROR) {
        const e = await readStderrError(r, this.version);
        throw new DaemonError(stripAnsi(e.message) + (e.traces ?? []).map((h) => `\n  … ${stripAnsi(h)}`).join(""), e.status);
      }
      const m = await readStderrMessage(r, tag);
      switch (m.type) {
        case "next":
          log({ type: "log", text: m.text.replace(/\n$/, "") });
          break;
        case "start":
          if (m.text) log({ type: "activity", text: m.text });
          break;
        case "result":
          log({ type: "result", text: m.fields.join(" "), result: m.result, fields: m.fields });
          break;
        case "read":
          if (!io.read) throw new DaemonError("the Nix daemon asked for data through STDERR_READ, which this client does not send");
          await this.send(new WireWriter().bytes(io.read(m.length)));
          break;
        case "write":
          io.write?.(m.data);
          break;
        default:
          break;
      }
    }
  }

  // ------------------------------------------------------------ operations

  /** SetOptions: the client's settings for this connection's builds. */
  async setOptions(s: ClientSettings): Promise<void> {
    await this.send(writeClientSettings(new WireWriter().u64(Op.SetOptions), this.version, s));
    await this.processStderr();
  }

  async queryPathInfo(storePath: string): Promise<NixPathInfo | null> {
    await this.send(new WireWriter().u64(Op.QueryPathInfo).string(storePath));
    await this.processStderr();
    if (!(await this.reader.bool())) return null;
    const w = await readUnkeyedPathInfo(this.reader, this.version, storePath);
    const info: NixPathInfo = { storePath, narHash: Hash.parse(w.narHash, "sha256").format("nix32", true), narSize: w.narSize, references: w.references, signatures: w.signatures };
    if (w.deriver) info.deriver = w.deriver;
    if (w.ca) info.ca = w.ca;
    if (w.registrationTime) info.registrationTime = w.registrationTime;
    if (w.ultimate) info.ultimate = true;
    return info;
  }

  /** QueryValidPaths: the subset of `paths` the daemon holds (after substituting them, with `substitute`, from 1.27). */
  async queryValidPaths(paths: readonly string[], substitute = false): Promise<Set<string>> {
    const w = new WireWriter().u64(Op.QueryValidPaths).strings(paths);
    if (this.protocolMinor >= 27) w.bool(substitute);
    await this.send(w);
    await this.processStderr();
    return new Set(await this.reader.strings());
  }

  /**
   * The NAR of a valid path whose info the caller has just queried; checked
   * against that info's hash and size on the way. A consumer that stops
   * early leaves bytes on the wire: the connection is then broken.
   */
  async *narFromPath(storePath: string, info: NixPathInfo, what: string): AsyncIterable<Uint8Array> {
    await this.send(new WireWriter().u64(Op.NarFromPath).string(storePath));
    await this.processStderr();
    // the NAR follows unframed; its size is the one the daemon reported
    let complete = false;
    try {
      yield* verifyStream(this.reader.rawStream(info.narSize), { hash: Hash.parse(info.narHash), size: info.narSize }, `NAR of '${storePath}' from '${what}'`);
      complete = true;
    } finally {
      if (!complete) this.broken = true;
    }
  }

  /** AddToStoreNar (1.23+): one path, its NAR framed. */
  async addToStoreNar(info: NixPathInfo, nar: AsyncIterable<Uint8Array>, checkSigs: boolean): Promise<void> {
    const narHash = Hash.parse(info.narHash);
    if (narHash.algo !== "sha256") throw new Error(`NAR hash of '${info.storePath}' must be sha256`);
    if (this.protocolMinor < 23) throw new NotImplemented(`adding paths to a Nix daemon older than protocol 1.23 (this one speaks 1.${this.protocolMinor})`);
    await this.send(
      new WireWriter()
        .u64(Op.AddToStoreNar)
        .string(info.storePath)
        .string(info.deriver ?? "")
        .string(narHash.toBase16())
        .strings(info.references)
        .u64(0) // registration time: now
        .u64(info.narSize)
        .bool(false) // ultimate
        .strings(info.signatures)
        .string(info.ca ?? "")
        .bool(false) // repair
        .bool(!checkSigs),
    );
    // A NAR that does not match narHash/narSize must not reach the daemon in
    // full: verifyStream throws before the end frame, and the connection is dropped.
    try {
      await writeFramed(verifyStream(nar, { hash: narHash, size: info.narSize }, `NAR of '${info.storePath}'`), (b) => this.send(b));
    } catch (e) {
      this.broken = true;
      throw e;
    }
    await this.processStderr();
  }

  /**
   * Adds paths (references before the paths that refer to them): one
   * AddMultipleToStore from protocol 1.32 on, else one AddToStoreNar each.
   * `nar(info)` opens a path's NAR when its turn comes.
   */
  async addPaths(infos: readonly NixPathInfo[], nar: (info: NixPathInfo) => AsyncIterable<Uint8Array>, checkSigs: boolean): Promise<void> {
    if (infos.length === 0) return;
    if (this.protocolMinor < 32) {
      for (const info of infos) await this.addToStoreNar(info, nar(info), checkSigs);
      return;
    }
    await this.send(new WireWriter().u64(Op.AddMultipleToStore).bool(false).bool(!checkSigs));
    const version = Math.max(this.version, 0x110); // the items always carry the 1.16 fields
    async function* body(): AsyncIterable<Uint8Array> {
      yield new WireWriter().u64(infos.length).take();
      for (const info of infos) {
        const narHash = Hash.parse(info.narHash);
        yield writeValidPathInfo(new WireWriter(), version, {
          path: info.storePath,
          deriver: info.deriver ?? "",
          narHash: narHash.toBase16(),
          references: info.references,
          registrationTime: 0,
          narSize: info.narSize,
          ultimate: false,
          signatures: info.signatures,
          ca: info.ca ?? "",
        }).take();
        yield* verifyStream(nar(info), { hash: narHash, size: info.narSize }, `NAR of '${info.storePath}'`);
      }
    }
    try {
      await writeFramed(body(), (b) => this.send(b));
    } catch (e) {
      this.broken = true;
      throw e;
    }
    await this.processStderr();
  }

  /** BuildDerivation: builds `drv` (its inputs valid on the daemon's side); the build's log goes to `onLog`. */
  async buildDerivation(drvPath: string, drv: BasicDerivation, mode: number, onLog?: DaemonLog): Promise<BuildResult> {
    await this.send(writeBasicDerivation(new WireWriter().u64(Op.BuildDerivation).string(drvPath), drv).u64(mode));
    await this.processStderr({ onLog });
    return readBuildResult(this.reader, this.version);
  }

  /** `now`: cut the connection at once (an operation is being abandoned). */
  close(now = false): void {
    this.transport.close(now);
  }
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

export interface DaemonStoreOptions {
  /** Opens one connection (handshake done). */
  connect: (onLog: DaemonLog) => Promise<DaemonConnection>;
  storeDir: string;
  maxConnections: number;
  checkSigs: boolean;
  onLog?: DaemonLog;
  /** Sent with SetOptions on each new connection. */
  clientSettings?: ClientSettings;
}

export class DaemonStore implements NixStore, SignatureChecking {
  readonly storeDir: string;
  private idle: DaemonConnection[] = [];
  private open = 0;
  private waiting: ((c: DaemonConnection | null) => void)[] = [];
  private closed = false;

  constructor(readonly url: string, private opts: DaemonStoreOptions) {
    this.storeDir = opts.storeDir;
  }

  setCheckSigs(on: boolean): void {
    this.opts.checkSigs = on;
  }

  get checkSigs(): boolean {
    return this.opts.checkSigs;
  }

  private async acquire(): Promise<DaemonConnection> {
    if (this.closed) throw new DaemonError("the daemon store is closed");
    const c = this.idle.pop();
    if (c) return c;
    if (this.open < this.opts.maxConnections) {
      this.open++;
      try {
        const conn = await this.opts.connect(this.opts.onLog ?? (() => {}));
        if (this.opts.clientSettings) await conn.setOptions(this.opts.clientSettings);
        return conn;
      } catch (e) {
        this.open--;
        throw e;
      }
    }
    const next = await new Promise<DaemonConnection | null>((r) => this.waiting.push(r));
    return next ?? this.acquire();
  }

  private release(c: DaemonConnection): void {
    if (c.broken || this.closed) {
      c.close();
      this.open--;
      const w = this.waiting.shift();
      if (w) w(null);
      return;
    }
    const w = this.waiting.shift();
    if (w) w(c);
    else this.idle.push(c);
  }

  /**
   * Runs `f` on a connection of its own (several operations in a row, as a
   * remote build does); a failure other than a daemon-reported error breaks
   * the connection.
   */
  async withConnection<T>(f: (c: DaemonConnection) => Promise<T>): Promise<T> {
    const c = await this.acquire();
    try {
      return await f(c);
    } catch (e) {
      if (!(e instanceof DaemonError) || /connection|stream/.test(e.message)) c.broken = true;
      throw e;
    } finally {
      this.release(c);
    }
  }

  /** Connects once (the handshake), to fail early on a bad socket. */
  async init(): Promise<this> {
    await this.withConnection(async () => {});
    return this;
  }

  private parse(p: string): StorePath {
    return StorePath.parseAbsolute(p, this.storeDir);
  }

  async queryPathInfo(storePath: string): Promise<NixPathInfo | null> {
    this.parse(storePath);
    return this.withConnection((c) => c.queryPathInfo(storePath));
  }

  async *narFromPath(storePath: string): AsyncIterable<Uint8Array> {
    this.parse(storePath);
    const c = await this.acquire();
    try {
      const info = await c.queryPathInfo(storePath);
      if (!info) throw new DaemonError(`path '${storePath}' is not valid in '${this.url}'`);
      yield* c.narFromPath(storePath, info, this.url);
    } catch (e) {
      if (!(e instanceof DaemonError)) c.broken = true;
      throw e;
    } finally {
      this.release(c);
    }
  }

  async addToStore(info: NixPathInfo, nar: AsyncIterable<Uint8Array>): Promise<void> {
    this.parse(info.storePath);
    await this.withConnection((c) => c.addToStoreNar(info, nar, this.opts.checkSigs));
  }

  async *listPaths(): AsyncIterable<string> {
    const paths = await this.withConnection(async (c) => {
      await c.send(new WireWriter().u64(Op.QueryAllValidPaths));
      await c.processStderr();
      return c.reader.strings();
    });
    yield* paths.sort();
  }

  /** CollectGarbage: the daemon's collector (paths are the live/dead ones or those deleted). */
  async collectGarbage(action: "return-live" | "return-dead" | "delete-dead" | "delete-specific", paths: readonly string[] = [], maxFreed?: number): Promise<{ paths: string[]; bytesFreed: number }> {
    const code = ["return-live", "return-dead", "delete-dead", "delete-specific"].indexOf(action);
    return this.withConnection(async (c) => {
      const w = new WireWriter().u64(Op.CollectGarbage).u64(code).strings(paths).bool(false);
      w.u64(maxFreed === undefined || !Number.isFinite(maxFreed) ? 0xffffffffffffffffn : BigInt(Math.floor(maxFreed)));
      await c.send(w.u64(0).u64(0).u64(0));
      await c.processStderr();
      const deleted = await c.reader.strings();
      const bytesFreed = await c.reader.u64();
      await c.reader.u64();
      return { paths: deleted, bytesFreed };
    });
  }

  /** FindRoots: link -> store path pairs. */
  async findRoots(): Promise<[string, string][]> {
    return this.withConnection(async (c) => {
      await c.send(new WireWriter().u64(Op.FindRoots));
      await c.processStderr();
      const n = await c.reader.u64();
      const out: [string, string][] = [];
      for (let i = 0; i < n; i++) out.push([await c.reader.string(), await c.reader.string()]);
      return out;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.idle) c.close();
    this.idle = [];
    for (const w of this.waiting) w(null);
    this.waiting = [];
  }
}

export const DEFAULT_DAEMON_SOCKET = "/nix/var/nix/daemon-socket/socket";

function daemonOpener(fromUrl: (url: URL) => string) {
  return async (url: URL, raw: string, opts: { storeDir: string }) => {
    const p = storeParams(raw);
    for (const k of p.keys())
      if (!["max-connections", "check-sigs", "store", "root"].includes(k)) throw new Error(`unknown store parameter '${k}' in '${stripParams(raw)}'`);
    const socketPath = fromUrl(url);
    const store = new DaemonStore(stripParams(raw), {
      connect: (onLog) => DaemonConnection.connect(socketPath, onLog),
      storeDir: opts.storeDir,
      maxConnections: Number(p.get("max-connections") || 4),
      checkSigs: parseBool(p.get("check-sigs"), "check-sigs", true),
    });
    return store.init();
  };
}

registerStoreScheme("unix", daemonOpener((url) => {
  const path = decodeURIComponent(url.pathname);
  if (!path.startsWith("/")) throw new Error(`unix:// store URLs need an absolute socket path, got '${url.href}'`);
  return path;
}));
registerStoreScheme("daemon", daemonOpener(() => process.env.NIX_DAEMON_SOCKET_PATH || DEFAULT_DAEMON_SOCKET));

// ---------------------------------------------------------------- ssh-ng://

/** What an ssh-ng:// URL says: where to connect and what to run there. */
export interface SshStoreConfig {
  target: SshTarget;
  /** The program run on the other side, with " --stdio" appended (default nix-daemon). */
  remoteProgram: string;
  /** `--store` for it (its own store URL), when given. */
  remoteStore?: string;
  maxConnections: number;
  checkSigs: boolean;
}

const SSH_PARAMS = ["ssh-key", "remote-program", "remote-store", "base64-ssh-public-host-key", "compress", "max-connections", "check-sigs", "store", "path-info-cache-size"];

/** Parses `ssh-ng://[user@]host[:port]?params` (Nix's parameters: ssh-key, remote-program, remote-store, base64-ssh-public-host-key, compress, max-connections). */
export function parseSshStoreUrl(raw: string): SshStoreConfig {
  const m = /^ssh-ng:\/\/([^/?]+)\/?(\?.*)?$/.exec(raw);
  if (!m) throw new Error(`ssh-ng:// store URLs look like 'ssh-ng://[user@]host[:port][?params]', got '${raw}'`);
  const p = storeParams(raw);
  for (const k of p.keys()) if (!SSH_PARAMS.includes(k)) throw new Error(`unknown store parameter '${k}' in '${stripParams(raw)}' (known: ${SSH_PARAMS.join(", ")})`);
  let host = decodeURIComponent(m[1]);
  let port: number | undefined;
  const hp = /^(.*[^:]):(\d+)$/.exec(host);
  if (hp && (!hp[1].includes(":") || /^(.*@)?\[.*\]$/.test(hp[1]))) {
    host = hp[1];
    port = Number(hp[2]);
  }
  host = host.replace(/^(.*@)?\[(.*)\]$/, "$1$2");
  const maxConnections = Number(p.get("max-connections") || 1);
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new Error(`store parameter 'max-connections' must be a positive number, got '${p.get("max-connections")}'`);
  return {
    target: { host, port, key: p.get("ssh-key") || undefined, publicHostKey: p.get("base64-ssh-public-host-key") || undefined, compress: parseBool(p.get("compress"), "compress", false) },
    remoteProgram: p.get("remote-program") || "nix-daemon",
    remoteStore: p.get("remote-store") || undefined,
    maxConnections,
    checkSigs: parseBool(p.get("check-sigs"), "check-sigs", true),
  };
}

/** One connection: `ssh HOST REMOTE-PROGRAM --stdio [--store REMOTE-STORE]`, the protocol on its stdin/stdout. */
export async function connectSsh(c: SshStoreConfig, what: string, onLog: DaemonLog = () => {}): Promise<DaemonConnection> {
  const command = `${c.remoteProgram} --stdio` + (c.remoteStore ? ` --store ${shellQuote(c.remoteStore)}` : "");
  const rp = spawnRemote(c.target, command);
  const child = rp.child;
  let closing = false;
  const transport: DaemonTransport = {
    input: child.stdout!,
    write: (b) =>
      writeStream(child.stdin!, b).catch(() => {
        throw new DaemonError(`the connection to '${what}' is closed${tail(rp.stderrTail())}`);
      }),
    close(now) {
      if (now) child.kill("SIGKILL");
      if (closing) return;
      closing = true;
      // end of input makes the remote daemon exit, and ssh with it
      child.stdin!.end();
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      t.unref();
      void rp.exited.then(() => clearTimeout(t));
    },
    diagnostics: () => rp.stderrTail(),
  };
  try {
    return await DaemonConnection.open(transport, onLog);
  } catch (e) {
    child.kill("SIGKILL");
    await rp.exited;
    const said = rp.stderrTail();
    throw new DaemonError(`cannot connect to '${what}': ${said || (e as Error).message}`);
  }
}

function tail(s: string): string {
  return s ? `: ${s}` : "";
}

registerStoreScheme("ssh-ng", async (_url, raw, opts) => {
  const cfg = parseSshStoreUrl(raw);
  const url = stripParams(raw);
  const store = new DaemonStore(url, {
    connect: (onLog) => connectSsh(cfg, url, onLog),
    storeDir: opts.storeDir,
    maxConnections: cfg.maxConnections,
    checkSigs: cfg.checkSigs,
  });
  return store.init();
});
