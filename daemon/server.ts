// The listener: a unix socket (each accepted connection is identified by its
// peer's credentials, checked against allowed-users and trusted-users) or
// stdin/stdout (one connection: what `ssh-ng://` and `remote-program` run).
// Connections run concurrently on one event loop. SIGTERM (or shutdown())
// stops accepting, lets each connection finish the operation it is in,
// closes them, and closes the store.
import { chmodSync, existsSync, rmSync } from "node:fs";
import { type Server, type Socket, createConnection, createServer } from "node:net";
import { dirname } from "node:path";
import { WireError } from "../core/wire";
import { Connection, type Transport } from "./connection";
import { type Peer, processCredentials, socketPeer, startPeerLookups, stopPeerLookups } from "./peer";
import { matchesUsers } from "./settings";
import { reusingInput } from "./socket-input";
import type { ServedStore } from "./served-store";
import { mkdirs } from "../stores/mkdirs";

export interface DaemonOptions {
  store: ServedStore;
  nixVersion: string;
  /** Trust every client (true) or none (false) instead of trusted-users. */
  forceTrusted?: boolean;
  /** Daemon-side messages (accepted connections, refusals, errors). */
  log: (msg: string) => void;
  /** Per-connection details too. */
  verbose?: boolean;
}

/** The client on this process's stdin and stdout (`store daemon --stdio`). */
export function stdioTransport(): Transport {
  const out = process.stdout;
  out.on("error", () => {}); // surfaced through the writes
  return {
    input: process.stdin,
    write(b) {
      // a write that fails (EPIPE: the ssh session ended) emits no "drain",
      // and stdout is never destroyed (Node undoes it): waiting for either
      // would never end; the write's own callback comes in every case
      return new Promise((resolve, reject) => {
        let queued = false;
        const ok = out.write(b, (err) => {
          if (!queued) return;
          if (err) reject(new WireError("the client closed the connection"));
          else resolve();
        });
        if (ok) resolve();
        else queued = true;
      });
    },
    close() {
      process.stdin.destroy();
    },
  };
}

function socketTransport(accepted: Socket): Transport {
  const reusing = reusingInput(accepted);
  const socket = reusing?.socket ?? accepted;
  socket.on("error", () => {}); // surfaced through reads and writes
  return {
    input: reusing?.input ?? socket,
    write(b) {
      if (socket.destroyed || !socket.writable) return Promise.reject(new WireError("the client closed the connection"));
      if (socket.write(b)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const done = () => {
          socket.off("drain", done);
          socket.off("close", closed);
          resolve();
        };
        const closed = () => {
          socket.off("drain", done);
          reject(new WireError("the client closed the connection"));
        };
        socket.once("drain", done);
        socket.once("close", closed);
      });
    },
    close() {
      if (!socket.destroyed) socket.end();
      // a client that keeps its end open does not hold us up
      setTimeout(() => socket.destroy(), 2000).unref();
    },
  };
}

/** How long a --stdio daemon waits for its operations once its client has gone. */
const STDIO_GRACE_MS = 10_000;

export class DaemonServer {
  private server: Server | null = null;
  private readonly connections = new Set<Connection>();
  private readonly running = new Set<Promise<void>>();
  private nextId = 1;
  private socketPath: string | null = null;
  private stopping = false;

  constructor(private readonly opts: DaemonOptions) {}

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Who a client is matters unless everyone may connect and trust is forced either way. */
  private get needPeer(): boolean {
    return this.opts.forceTrusted === undefined || !this.opts.store.settings.allowedUsers.includes("*");
  }

  private trustOf(peer: Peer | null): boolean {
    if (this.opts.forceTrusted !== undefined) return this.opts.forceTrusted;
    return matchesUsers(this.opts.store.settings.trustedUsers, peer);
  }

  private serve(transport: Transport, peer: Peer | null, trusted: boolean): void {
    const id = this.nextId++;
    const conn = new Connection({
      store: this.opts.store,
      transport,
      trusted,
      peer,
      nixVersion: this.opts.nixVersion,
      id,
      debug: this.opts.verbose ? this.opts.log : undefined,
    });
    this.connections.add(conn);
    const run = conn.run().finally(() => {
      this.connections.delete(conn);
      this.running.delete(run);
    });
    this.running.add(run);
  }

  /** Listens on a unix socket at `path` (a stale socket file is replaced; a live one is an error). */
  async listen(path: string): Promise<void> {
    if (existsSync(path)) {
      const live = await new Promise<boolean>((resolve) => {
        const s = createConnection(path);
        s.once("connect", () => (s.destroy(), resolve(true)));
        s.once("error", () => resolve(false));
      });
      if (live) throw new Error(`another daemon is already listening on '${path}'`);
      rmSync(path, { force: true });
    }
    mkdirs(dirname(path), 0o755);
    if (this.needPeer) startPeerLookups();
    // nothing is read from a new socket until the peer is known (the kernel buffers what the client sends)
    const server = createServer({ pauseOnConnect: true }, (socket) => void this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // anyone may connect; allowed-users decides who is served
    chmodSync(path, 0o666);
    server.on("error", (e) => this.opts.log(`socket error: ${e.message}`));
    this.server = server;
    this.socketPath = path;
  }

  private async accept(socket: Socket): Promise<void> {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    let peer: Peer | null = null;
    if (this.needPeer) {
      try {
        peer = await socketPeer(socket);
      } catch {
        peer = null;
      }
    }
    const who = peer ? `pid ${peer.pid}, user ${peer.user}` : "an unknown peer";
    if (!matchesUsers(this.opts.store.settings.allowedUsers, peer)) {
      this.opts.log(`refused connection from ${who}: user '${peer?.user ?? "?"}' is not allowed to connect to the Nix daemon`);
      socket.destroy();
      return;
    }
    const trusted = this.trustOf(peer);
    if (this.opts.verbose) this.opts.log(`accepted connection from ${who}${trusted ? " (trusted)" : ""}`);
    this.serve(socketTransport(socket), peer, trusted);
  }

  /** Serves one connection on stdin/stdout, as the user running the daemon; resolves when it ends. */
  async serveStdio(): Promise<void> {
    const me = processCredentials(process.pid);
    const trusted = this.trustOf(me);
    const transport = stdioTransport();
    this.serve(transport, me, trusted);
    // once the client is gone, an operation it left (a build being
    // stopped) gets STDIO_GRACE_MS to end: a --stdio daemon must not outlive
    // its ssh session
    let grace: NodeJS.Timeout | undefined;
    const gone = new Promise<void>((resolve) => {
      const ended = () => void (grace ??= setTimeout(resolve, STDIO_GRACE_MS));
      process.stdin.once("end", ended);
      process.stdin.once("close", ended);
    });
    await Promise.race([Promise.all(this.running), gone]);
    clearTimeout(grace);
  }

  /** Stops accepting, lets running operations finish (at most `graceMs`), closes connections and the store. */
  async shutdown(graceMs = 30_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // stop accepting (connections are tracked here, not through the server)
    this.server?.close();
    for (const c of this.connections) c.closeWhenIdle();
    const all = Promise.allSettled([...this.running]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    if (this.socketPath) rmSync(this.socketPath, { force: true });
    stopPeerLookups();
    await this.opts.store.close();
  }
}
