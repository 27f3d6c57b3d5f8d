// A client of a running nix-daemon (unix:///path/to/socket, daemon://): the
// worker protocol handshake, log/stderr messages, QueryPathInfo, NarFromPath,
// AddToStoreNar (framed, protocol >= 1.23) and QueryAllValidPaths. See
// shared/docs/seed/nix-daemon/*.md; wire primitives are in core/wire.ts.
import { createConnection, Socket } from "node:net";
import { Hash } from "../core/hash";
import { StorePath } from "../core/store-path";
import { WireReader, WireWriter, writeFramed } from "../core/wire";
import { CLIENT_PROTOCOL, Op, Stderr, clientHandshake, minorOf, readStderrError, readStderrMessage, readUnkeyedPathInfo } from "../core/daemon-protocol";
import type { NixPathInfo, NixStore } from "./types";
import { registerStoreScheme } from "./url";
import { NotImplemented, SignatureChecking, parseBool, storeParams, stripParams } from "./binary-cache";
import { verifyStream } from "./stream-util";

export { CLIENT_PROTOCOL };

export class DaemonError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "DaemonError";
  }
}

export type DaemonLog = (msg: { type: "log" | "activity" | "result"; text: string }) => void;

/** One connection to the daemon, after the handshake. Not safe for concurrent operations. */
export class DaemonConnection {
  readonly reader: WireReader;
  version = 0;
  daemonNixVersion?: string;
  trusted?: boolean;
  broken = false;

  private constructor(private socket: Socket, private onLog: DaemonLog, private offer: number) {
    this.reader = new WireReader(socket, { maxBytes: 256 * 1024 * 1024 });
  }

  /** `offer`: the protocol version to offer (tests speak older ones). */
  static async connect(path: string, onLog: DaemonLog = () => {}, offer = CLIENT_PROTOCOL): Promise<DaemonConnection> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(path);
      s.once("connect", () => resolve(s));
      s.once("error", (e) => reject(new DaemonError(`cannot connect to the Nix daemon at '${path}': ${e.message}`)));
    });
    socket.on("error", () => {}); // surfaced through reads/writes
    const conn = new DaemonConnection(socket, onLog, offer);
    try {
      await conn.handshake();
    } catch (e) {
      socket.destroy();
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

  async send(w: WireWriter | Uint8Array): Promise<void> {
    const bytes = w instanceof WireWriter ? w.take() : w;
    if (this.socket.destroyed) throw new DaemonError("the connection to the Nix daemon is closed");
    if (!this.socket.write(bytes)) {
      await new Promise<void>((resolve, reject) => {
        const done = (e?: Error) => {
          this.socket.off("drain", done);
          this.socket.off("close", closed);
          if (e) reject(e);
          else resolve();
        };
        const closed = () => done(new DaemonError("the Nix daemon closed the connection"));
        this.socket.on("drain", done);
        this.socket.on("close", closed);
      });
    }
  }

  /**
   * Reads log messages up to STDERR_LAST; throws DaemonError for STDERR_ERROR.
   * `io` answers STDERR_READ (data the daemon asks for) and takes STDERR_WRITE.
   */
  async processStderr(io: { read?(n: number): Uint8Array; write?(b: Uint8Array): void } = {}): Promise<void> {
    const r = this.reader;
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
          this.onLog({ type: "log", text: m.text.replace(/\n$/, "") });
          break;
        case "start":
          if (m.text) this.onLog({ type: "activity", text: m.text });
          break;
        case "result":
          this.onLog({ type: "result", text: m.fields.join(" ") });
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

  close(): void {
    this.socket.destroy();
  }
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

export interface DaemonStoreOptions {
  socketPath: string;
  storeDir: string;
  maxConnections: number;
  checkSigs: boolean;
  onLog?: DaemonLog;
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

  private async acquire(): Promise<DaemonConnection> {
    if (this.closed) throw new DaemonError("the daemon store is closed");
    const c = this.idle.pop();
    if (c) return c;
    if (this.open < this.opts.maxConnections) {
      this.open++;
      try {
        return await DaemonConnection.connect(this.opts.socketPath, this.opts.onLog);
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

  /** Runs `f` on a connection; a failure other than a daemon-reported error breaks the connection. */
  private async withConnection<T>(f: (c: DaemonConnection) => Promise<T>): Promise<T> {
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
    return this.withConnection((c) => this.queryPathInfoOn(c, storePath));
  }

  private async queryPathInfoOn(c: DaemonConnection, storePath: string): Promise<NixPathInfo | null> {
    await c.send(new WireWriter().u64(Op.QueryPathInfo).string(storePath));
    await c.processStderr();
    if (!(await c.reader.bool())) return null;
    const w = await readUnkeyedPathInfo(c.reader, c.version, storePath);
    const info: NixPathInfo = { storePath, narHash: Hash.parse(w.narHash, "sha256").format("nix32", true), narSize: w.narSize, references: w.references, signatures: w.signatures };
    if (w.deriver) info.deriver = w.deriver;
    if (w.ca) info.ca = w.ca;
    if (w.registrationTime) info.registrationTime = w.registrationTime;
    if (w.ultimate) info.ultimate = true;
    return info;
  }

  async *narFromPath(storePath: string): AsyncIterable<Uint8Array> {
    this.parse(storePath);
    const c = await this.acquire();
    let streaming = false;
    let complete = false;
    try {
      const info = await this.queryPathInfoOn(c, storePath);
      if (!info) throw new DaemonError(`path '${storePath}' is not valid in '${this.url}'`);
      await c.send(new WireWriter().u64(Op.NarFromPath).string(storePath));
      await c.processStderr();
      // The NAR follows unframed; its size is the one the daemon just reported.
      streaming = true;
      yield* verifyStream(c.reader.rawStream(info.narSize), { hash: Hash.parse(info.narHash), size: info.narSize }, `NAR of '${storePath}' from '${this.url}'`);
      complete = true;
    } catch (e) {
      if (!(e instanceof DaemonError)) c.broken = true;
      throw e;
    } finally {
      // a consumer that stopped early leaves NAR bytes on the wire
      if (streaming && !complete) c.broken = true;
      this.release(c);
    }
  }

  async addToStore(info: NixPathInfo, nar: AsyncIterable<Uint8Array>): Promise<void> {
    this.parse(info.storePath);
    const narHash = Hash.parse(info.narHash);
    if (narHash.algo !== "sha256") throw new Error(`NAR hash of '${info.storePath}' must be sha256`);
    await this.withConnection(async (c) => {
      if (c.protocolMinor < 23) throw new NotImplemented(`adding paths to a Nix daemon older than protocol 1.23 (this one speaks 1.${c.protocolMinor})`);
      await c.send(
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
          .bool(!this.opts.checkSigs),
      );
      // A NAR that does not match narHash/narSize must not reach the daemon in
      // full: verifyStream throws before the end frame, and the connection is dropped.
      try {
        await writeFramed(verifyStream(nar, { hash: narHash, size: info.narSize }, `NAR of '${info.storePath}'`), (b) => c.send(b));
      } catch (e) {
        c.broken = true;
        throw e;
      }
      await c.processStderr();
    });
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
      if (!["max-connections", "check-sigs", "store"].includes(k)) throw new Error(`unknown store parameter '${k}' in '${stripParams(raw)}'`);
    const socketPath = fromUrl(url);
    const store = new DaemonStore(stripParams(raw), {
      socketPath,
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
