// A client's socket read into buffers used again. Node's own socket reads
// take 64 KiB of fresh memory each (allocated per read, freed by the GC,
// faulted in again): measured here 160-220 ms of CPU and 5,500-9,500 page
// faults per 64 MiB received, against ~50 ms and ~400 page faults with a
// few buffers read into again and again (the socket's `onread` option).
// Everything a client uploads (AddMultipleToStore's NARs) comes through here.
//
// Node offers `onread` to sockets it creates for connect(), not to those a
// server accepts: the accepted socket's handle moves to a socket made with
// it (the server is created with pauseOnConnect, so nothing was read yet).
import { Socket } from "node:net";

/** Bytes asked of the kernel per read (what libuv asks for Node's own reads). */
const READ_SIZE = 64 * 1024;
/** Chunks received and not yet taken, beyond which reading pauses until the reader catches up. */
const MAX_QUEUED = 16;
/**
 * A chunk's buffer is read into again once this many later chunks have
 * been taken. core/byte-reader.ts hands out views that are valid until its
 * next read, and one read (a string's padding after its bytes) may take
 * two chunks or more when the client's writes arrive split small: a margin.
 */
const LAG = 4;
/** Free buffers kept for reading into. */
const KEEP_FREE = 8;

/**
 * The chunks of an accepted socket, each valid until LAG (4) more chunks
 * have been taken from the iterator (the reader that takes them copies what it
 * keeps); the socket to write to and close is `socket`.
 */
export interface ReusingInput {
  socket: Socket;
  input: AsyncIterable<Uint8Array>;
}

/**
 * Takes over an accepted socket (created paused) to read it into buffers
 * used again; null when its handle cannot be taken (the caller then reads
 * the socket as it is).
 */
export function reusingInput(accepted: Socket): ReusingInput | null {
  const a = accepted as unknown as { _handle?: object | null };
  const handle = a._handle;
  if (!handle || accepted.destroyed) return null;
  const queue: Uint8Array[] = [];
  const taken: Uint8Array[] = [];
  const free: Uint8Array[] = [];
  let ended = false;
  /** Reading stopped: the reader is MAX_QUEUED chunks behind (or has not started). */
  let paused = true;
  let failure: Error | null = null;
  let waiter: (() => void) | null = null;
  const wake = () => {
    const w = waiter;
    waiter = null;
    w?.();
  };
  a._handle = null;
  let socket: Socket;
  try {
    socket = new Socket({
      handle,
      readable: true,
      writable: true,
      onread: {
        buffer: () => free.pop() ?? new Uint8Array(READ_SIZE),
        callback: (n: number, buf: Uint8Array) => {
          queue.push(buf.subarray(0, n));
          wake();
          if (queue.length < MAX_QUEUED) return true;
          paused = true;
          return false; // stops reading until the reader takes some
        },
      },
    } as ConstructorParameters<typeof Socket>[0]);
  } catch {
    a._handle = handle;
    return null;
  }
  // the accepted socket's own bookkeeping (the server's count of connections) ends with this one
  socket.once("close", () => accepted.destroy());
  socket.on("end", () => {
    ended = true;
    wake();
  });
  socket.on("close", () => {
    ended = true;
    wake();
  });
  socket.on("error", (e) => {
    failure ??= e;
    wake();
  });
  const release = (chunk: Uint8Array) => {
    if (free.length < KEEP_FREE && chunk.buffer.byteLength === READ_SIZE) free.push(new Uint8Array(chunk.buffer));
  };
  const resume = () => {
    paused = false;
    if (!socket.destroyed) socket.resume();
  };
  const input: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      async next(): Promise<IteratorResult<Uint8Array>> {
        for (;;) {
          const c = queue.shift();
          if (c) {
            taken.push(c);
            if (taken.length > LAG) release(taken.shift()!);
            if (paused && queue.length <= MAX_QUEUED / 2) resume();
            return { value: c, done: false };
          }
          if (failure) throw failure;
          if (ended) return { value: undefined, done: true };
          if (paused) resume();
          await new Promise<void>((r) => (waiter = r));
        }
      },
    }),
  };
  return { socket, input };
}
