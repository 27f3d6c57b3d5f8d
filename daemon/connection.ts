// One client connection: the handshake, then operations one after another.
// Each operation reads its arguments, starts the "work" phase (log
// messages may flow: STDERR_NEXT, activities and results, which are held
// back until then, as C++ Nix's TunnelLogger does), and ends it with
// STDERR_LAST and its answer, or STDERR_ERROR. An error raised by the work
// keeps the connection usable; one in reading the arguments (a malformed
// request, an unknown operation, the stream breaking) is reported and ends
// the connection, since what follows on the wire cannot be trusted.
import {
  type ClientSettings,
  DEFAULT_CLIENT_SETTINGS,
  type LogField,
  Stderr,
  Verbosity,
  minorOf,
  opName,
  serverHandshake,
  writeFields,
  writeHandshakeInfo,
  writeStderrError,
} from "../core/daemon-protocol";
import { WireError, WireReader, WireWriter } from "../core/wire";
import { NarError } from "../core/nar";
import type { TempRootsFile } from "../stores/gc-roots";
import type { Peer } from "./peer";
import type { ServedStore } from "./served-store";
import { OPS } from "./ops";

/** The two directions of a connection (a socket, or stdin/stdout). */
export interface Transport {
  input: AsyncIterable<Uint8Array>;
  /** Writes bytes; resolves once the kernel took them or they are queued within limits. */
  write(b: Uint8Array): Promise<void>;
  close(): void;
}

export interface ConnectionOptions {
  store: ServedStore;
  transport: Transport;
  trusted: boolean;
  peer: Peer | null;
  /** What the daemon reports as its Nix version (1.33+). */
  nixVersion: string;
  /** Daemon-side log (not sent to the client). */
  debug?: (msg: string) => void;
  id: number;
}

/** Limits for what a client may send in one value. */
const LIMITS = { maxBytes: 64 * 1024 * 1024, maxItems: 4_000_000 };
/** Flush the reply buffer once it holds this much. */
const FLUSH_AT = 256 * 1024;

let activityCounter = 0n;

export class Connection {
  readonly r: WireReader;
  readonly store: ServedStore;
  readonly trusted: boolean;
  readonly peer: Peer | null;
  version = 0;
  settings: ClientSettings = { ...DEFAULT_CLIENT_SETTINGS, overrides: new Map() };
  /** Replies and log messages not yet written. */
  readonly out = new WireWriter();
  private canSendStderr = false;
  private held: Uint8Array[] = [];
  private workStarted = false;
  private workEnded = false;
  /** Set while an operation runs (for draining on shutdown). */
  busy = false;
  private closing = false;
  private tempRootsFile: TempRootsFile | null = null;
  /** Operations completed. */
  ops = 0;

  constructor(private readonly opts: ConnectionOptions) {
    this.r = new WireReader(opts.transport.input, LIMITS);
    this.store = opts.store;
    this.trusted = opts.trusted;
    this.peer = opts.peer;
  }

  get id(): number {
    return this.opts.id;
  }

  /** This client's temp roots (created on first use). */
  get tempRoots(): TempRootsFile | null {
    if (!this.tempRootsFile && this.store.roots) this.tempRootsFile = this.store.roots.openTempRoots(String(this.opts.id));
    return this.tempRootsFile;
  }

  get minor(): number {
    return minorOf(this.version);
  }

  // ------------------------------------------------------------ output

  async flush(): Promise<void> {
    if (this.out.size === 0) return;
    await this.opts.transport.write(this.out.take());
  }

  /** Flushes when the buffer is large (for long replies). */
  async maybeFlush(): Promise<void> {
    if (this.out.size >= FLUSH_AT) await this.flush();
  }

  private emit(msg: WireWriter): void {
    const b = msg.take();
    if (this.canSendStderr) {
      this.out.raw(b);
    } else this.held.push(b);
  }

  /** Starts the work phase: held messages go out, and new ones as they come. */
  startWork(): void {
    this.workStarted = true;
    this.canSendStderr = true;
    for (const b of this.held) this.out.raw(b);
    this.held = [];
  }

  /** Ends the work phase with STDERR_LAST; the answer follows in `out`. */
  stopWork(): void {
    if (!this.workStarted) this.startWork();
    this.canSendStderr = false;
    this.workEnded = true;
    this.out.u64(Stderr.LAST);
  }

  /** A log line for the client (if its verbosity shows it). */
  log(level: number, text: string): void {
    if (level > this.settings.verbosity) return;
    this.emit(new WireWriter().u64(Stderr.NEXT).string(text + "\n"));
    void this.flushLogs();
  }

  /** Sends log messages while work runs (they are small; the client shows them as they come). */
  private async flushLogs(): Promise<void> {
    if (this.canSendStderr) await this.flush().catch(() => {});
  }

  info(text: string): void {
    this.log(Verbosity.Info, text);
  }

  startActivity(type: number, text: string, fields: LogField[] = [], level: number = Verbosity.Info, parent = 0n): bigint {
    const id = (BigInt(process.pid) << 32n) + ++activityCounter;
    if (this.minor < 20) {
      if (text) this.log(level, text + "...");
      return id;
    }
    const w = new WireWriter().u64(Stderr.START_ACTIVITY).u64(id).u64(level).u64(type).string(text);
    writeFields(w, fields).u64(parent);
    this.emit(w);
    void this.flushLogs();
    return id;
  }

  stopActivity(id: bigint): void {
    if (this.minor < 20) return;
    this.emit(new WireWriter().u64(Stderr.STOP_ACTIVITY).u64(id));
    void this.flushLogs();
  }

  result(id: bigint, type: number, fields: LogField[]): void {
    if (this.minor < 20) return;
    this.emit(writeFields(new WireWriter().u64(Stderr.RESULT).u64(id).u64(type), fields));
    void this.flushLogs();
  }

  /** Runs `f` inside an activity (started and stopped around it). */
  async activity<T>(type: number, text: string, f: (id: bigint) => Promise<T>, fields: LogField[] = []): Promise<T> {
    const id = this.startActivity(type, text, fields);
    try {
      return await f(id);
    } finally {
      this.stopActivity(id);
    }
  }

  /** STDERR_WRITE: data for the client's sink (ExportPath). */
  writeData(b: Uint8Array): void {
    this.out.u64(Stderr.WRITE).bytes(b);
  }

  /** STDERR_READ: asks the client for up to `n` bytes of its source (ImportPaths, AddToStoreNar 1.21-1.22). */
  async readData(n: number): Promise<Uint8Array> {
    this.out.u64(Stderr.READ).u64(n);
    await this.flush();
    const b = await this.r.bytes(Math.max(n, 1));
    if (b.length === 0) throw new WireError("unexpected end-of-file");
    return b;
  }

  // ------------------------------------------------------------ the loop

  private debug(msg: string): void {
    this.opts.debug?.(msg);
  }

  /** Runs the connection to its end; never throws. */
  async run(): Promise<void> {
    try {
      const h = await serverHandshake(this.r, (b) => this.opts.transport.write(b));
      this.version = h.version;
      writeHandshakeInfo(this.out, this.version, this.opts.nixVersion, this.trusted);
      this.startWork();
      this.stopWork();
      await this.flush();
      while (!this.closing) {
        if (await this.r.atEnd()) break;
        const op = await this.r.u64();
        if (!(await this.perform(op))) break;
        this.ops++;
      }
    } catch (e) {
      this.debug(`connection ${this.id}: ${(e as Error).message}`);
    } finally {
      this.tempRootsFile?.close();
      this.opts.transport.close();
    }
  }

  /** Performs one operation; false when the connection must end. */
  private async perform(op: number): Promise<boolean> {
    this.workStarted = this.workEnded = false;
    this.canSendStderr = false;
    this.busy = true;
    try {
      const handler = OPS.get(op);
      if (!handler) throw new WireError(`invalid operation ${op}`);
      await handler(this);
      if (!this.workEnded) throw new Error(`internal error: operation ${opName(op)} did not end its work phase`);
      await this.flush();
      return true;
    } catch (e) {
      const err = e as Error;
      const fatal = err instanceof WireError || !this.workStarted;
      if (this.workEnded) {
        // the answer had started: the client cannot be told any more
        this.debug(`connection ${this.id}: ${opName(op)} failed while answering: ${err.message}`);
        return false;
      }
      // before stopWork only log messages are in `out`; they go out first
      this.held = [];
      writeStderrError(this.out, this.version, { message: errorMessage(err) });
      this.canSendStderr = false;
      try {
        await this.flush();
      } catch {
        return false;
      }
      if (fatal) this.debug(`connection ${this.id}: ${opName(op)}: ${err.message}; closing`);
      return !fatal;
    } finally {
      this.busy = false;
    }
  }

  /**
   * Watches for the client hanging up during a long operation (a build):
   * the signal aborts when its input ends. Clients send nothing while an
   * operation runs, so this only waits; `stop` when the operation is over.
   */
  watchHangUp(): { signal: AbortSignal; stop(): void } {
    const ac = new AbortController();
    let watching = true;
    this.r.atEnd().then(
      (end) => {
        if (end && watching) ac.abort();
      },
      () => watching && ac.abort(),
    );
    return { signal: ac.signal, stop: () => (watching = false) };
  }

  /** Ends the connection after the running operation (for shutdown). */
  closeWhenIdle(): void {
    this.closing = true;
    if (!this.busy) this.opts.transport.close();
  }
}

/** The message a client sees for an error. */
function errorMessage(e: Error): string {
  if (e instanceof NarError) return e.message;
  return e.message || String(e);
}

