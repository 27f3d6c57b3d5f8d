// A client of a running nix-daemon (unix:///path/to/socket, daemon://): the
// worker protocol handshake, log/stderr messages, QueryPathInfo, NarFromPath,
// AddToStoreNar (framed, protocol >= 1.23) and QueryAllValidPaths. See
// shared/docs/seed/nix-daemon/*.md; wire primitives are in core/wire.ts.
import { createConnection, Socket } from "node:net";
import { Hash } from "../core/hash";
import { StorePath } from "../core/store-path";
import { WireReader, WireWriter, writeFramed } from "../core/wire";
import type { NixPathInfo, NixStore } from "./types";
import { registerStoreScheme } from "./url";
import { NotImplemented, SignatureChecking, parseBool, storeParams, stripParams } from "./binary-cache";
import { verifyStream } from "./stream-util";

export const WORKER_MAGIC_1 = 0x6e697863;
export const WORKER_MAGIC_2 = 0x6478696f;
/** Protocol 1.35 (Nix 2.15): what this client speaks; the connection uses min(ours, daemon's). */
export const CLIENT_PROTOCOL = (1 << 8) | 35;
const minor = (v: number) => v & 0xff;

export const Op = { QueryAllValidPaths: 23, QueryPathInfo: 26, NarFromPath: 38, AddToStoreNar: 39 } as const;

const STDERR = {
  NEXT: 0x6f6c6d67,
  READ: 0x64617461,
  WRITE: 0x64617416,
  LAST: 0x616c7473,
  ERROR: 0x63787470,
  START_ACTIVITY: 0x53545254,
  STOP_ACTIVITY: 0x53544f50,
  RESULT: 0x52534c54,
} as const;

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

  private constructor(private socket: Socket, private onLog: DaemonLog) {
    this.reader = new WireReader(socket, { maxBytes: 256 * 1024 * 1024 });
  }

  static async connect(path: string, onLog: DaemonLog = () => {}): Promise<DaemonConnection> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(path);
      s.once("connect", () => resolve(s));
      s.once("error", (e) => reject(new DaemonError(`cannot connect to the Nix daemon at '${path}': ${e.message}`)));
    });
    socket.on("error", () => {}); // surfaced through reads/writes
    const conn = new DaemonConnection(socket, onLog);
    try {
      await conn.handshake();
    } catch (e) {
      socket.destroy();
      throw e;
    }
    return conn;
  }

  private async handshake(): Promise<void> {
    await this.send(new WireWriter().u64(WORKER_MAGIC_1));
    const magic = await this.reader.u64();
    if (magic !== WORKER_MAGIC_2) throw new DaemonError("the daemon speaks a different protocol (bad magic)");
    const daemonVersion = await this.reader.u64();
    if (daemonVersion >> 8 !== 1) throw new DaemonError(`unsupported daemon protocol major version ${daemonVersion >> 8}`);
    if (minor(daemonVersion) < 17) throw new DaemonError(`the daemon's protocol 1.${minor(daemonVersion)} is too old (need >= 1.17)`);
    this.version = Math.min(daemonVersion, CLIENT_PROTOCOL);
    const w = new WireWriter().u64(CLIENT_PROTOCOL);
    if (minor(this.version) >= 14) w.u64(0); // no CPU affinity
    if (minor(this.version) >= 11) w.u64(0); // reserveSpace = false
    await this.send(w);
    if (minor(this.version) >= 33) this.daemonNixVersion = await this.reader.string();
    if (minor(this.version) >= 35) {
      const t = await this.reader.u64();
      this.trusted = t === 1 ? true : t === 2 ? false : undefined;
    }
    await this.processStderr();
  }

  get protocolMinor(): number {
    return minor(this.version);
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

  private async fields(): Promise<string[]> {
    const r = this.reader;
    const n = await r.u64();
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const type = await r.u64();
      out.push(type === 0 ? String(await r.u64Big()) : await r.string());
    }
    return out;
  }

  /** Reads log messages up to STDERR_LAST; throws DaemonError for STDERR_ERROR. */
  async processStderr(): Promise<void> {
    const r = this.reader;
    for (;;) {
      const msg = await r.u64();
      switch (msg) {
        case STDERR.LAST:
          return;
        case STDERR.ERROR: {
          if (this.protocolMinor >= 26) {
            await r.string(); // "Error"
            await r.u64(); // level
            await r.string(); // name
            const text = await r.string();
            await r.u64(); // havePos
            const traces = await r.u64();
            const hints: string[] = [];
            for (let i = 0; i < traces; i++) {
              await r.u64();
              hints.push(await r.string());
            }
            throw new DaemonError(stripAnsi(text) + hints.map((h) => `\n  … ${stripAnsi(h)}`).join(""));
          }
          const text = await r.string();
          const status = await r.u64();
          throw new DaemonError(stripAnsi(text), status);
        }
        case STDERR.NEXT:
          this.onLog({ type: "log", text: (await r.string()).replace(/\n$/, "") });
          break;
        case STDERR.START_ACTIVITY: {
          await r.u64(); // id
          await r.u64(); // level
          await r.u64(); // type
          const text = await r.string();
          await this.fields();
          await r.u64(); // parent
          if (text) this.onLog({ type: "activity", text });
          break;
        }
        case STDERR.STOP_ACTIVITY:
          await r.u64();
          break;
        case STDERR.RESULT: {
          await r.u64();
          await r.u64();
          const f = await this.fields();
          this.onLog({ type: "result", text: f.join(" ") });
          break;
        }
        case STDERR.WRITE:
          await r.bytes();
          break;
        case STDERR.READ:
          throw new DaemonError("the Nix daemon asked for data through STDERR_READ, which this client does not send");
        default:
          throw new DaemonError(`unknown message 0x${msg.toString(16)} from the Nix daemon`);
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
    const r = c.reader;
    if (!(await r.bool())) return null;
    const deriver = await r.string();
    const narHash = Hash.parse(await r.string(), "sha256");
    const references = await r.strings();
    await r.u64(); // registration time
    const narSize = await r.u64();
    await r.bool(); // ultimate
    const signatures = await r.strings();
    const ca = await r.string();
    const info: NixPathInfo = { storePath, narHash: narHash.format("nix32", true), narSize, references, signatures };
    if (deriver) info.deriver = deriver;
    if (ca) info.ca = ca;
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
