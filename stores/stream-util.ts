// Small helpers for byte streams: hashing/size verification while streaming,
// counting, collecting, and opening files as streams.
import { createReadStream } from "node:fs";
import { Hash, createHasher } from "../core/hash";

export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IntegrityError";
  }
}

/**
 * Passes `source` through while hashing it; throws IntegrityError at the end
 * (after yielding everything) when the hash or size differ from the expected
 * ones, or as soon as the stream grows beyond `size`.
 */
export async function* verifyStream(
  source: AsyncIterable<Uint8Array>,
  expected: { hash?: Hash; size?: number },
  what: string,
): AsyncIterable<Uint8Array> {
  const hasher = expected.hash ? createHasher(expected.hash.algo) : null;
  let n = 0;
  for await (const chunk of source) {
    n += chunk.length;
    if (expected.size !== undefined && n > expected.size)
      throw new IntegrityError(`${what}: size mismatch: expected ${expected.size} bytes, got more`);
    hasher?.update(chunk);
    yield chunk;
  }
  if (expected.size !== undefined && n !== expected.size)
    throw new IntegrityError(`${what}: size mismatch: expected ${expected.size} bytes, got ${n} (truncated?)`);
  if (hasher && expected.hash) {
    const got = hasher.digest();
    if (!got.equals(expected.hash))
      throw new IntegrityError(`${what}: hash mismatch: expected ${expected.hash.format("nix32", true)}, got ${got.format("nix32", true)}`);
  }
}

/** Passes `source` through, reporting the hash and size once it is exhausted. */
export function measureStream(
  source: AsyncIterable<Uint8Array>,
  algo: "sha256" = "sha256",
): { stream: AsyncIterable<Uint8Array>; result: () => { hash: Hash; size: number } } {
  const hasher = createHasher(algo);
  let size = 0;
  let done: { hash: Hash; size: number } | null = null;
  const stream = (async function* () {
    for await (const chunk of source) {
      hasher.update(chunk);
      size += chunk.length;
      yield chunk;
    }
    done = { hash: hasher.digest(), size };
  })();
  return {
    stream,
    result: () => {
      if (!done) throw new Error("stream not fully consumed");
      return done;
    },
  };
}

/** Calls `onBytes` with each chunk's length as it passes. */
export async function* countStream(source: AsyncIterable<Uint8Array>, onBytes: (n: number) => void): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    onBytes(chunk.length);
    yield chunk;
  }
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of source) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

export async function* once(b: Uint8Array): AsyncIterable<Uint8Array> {
  yield b;
}

export function fileStream(path: string): AsyncIterable<Uint8Array> {
  return createReadStream(path, { highWaterMark: 1 << 20 });
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects on the first failure after the running ones settle. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (failure === null && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        if (failure === null) failure = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== null) throw failure;
}

/** Branches of one stream made by tee(); abort() makes every branch fail (e.g. when another consumer failed). */
export interface Tee {
  branches: AsyncIterable<Uint8Array>[];
  abort(reason: unknown): void;
}

/**
 * Splits a stream into `n` branches that each see every chunk. The source is
 * read as fast as the fastest branch asks, at most `ahead` chunks before the
 * slowest one; a source error reaches every branch.
 */
export function tee(source: AsyncIterable<Uint8Array>, n: number, ahead = 16): Tee {
  const it = source[Symbol.asyncIterator]();
  const buf: Uint8Array[] = [];
  let base = 0; // index of buf[0] in the stream
  const pos = new Array<number>(n).fill(0);
  const finished = new Array<boolean>(n).fill(false);
  let ended = false;
  let failure: { e: unknown } | null = null;
  let pulling: Promise<void> | null = null;
  let waiters: (() => void)[] = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const trim = () => {
    let min = Infinity;
    for (let i = 0; i < n; i++) if (!finished[i]) min = Math.min(min, pos[i]);
    if (min === Infinity) min = base + buf.length;
    const drop = min - base;
    if (drop > 0) {
      buf.splice(0, drop);
      base = min;
      wake();
    }
  };
  const pull = (): Promise<void> =>
    (pulling ??= (async () => {
      try {
        const r = await it.next();
        if (r.done) ended = true;
        else buf.push(r.value);
      } catch (e) {
        failure ??= { e };
      } finally {
        pulling = null;
        wake();
      }
    })());
  const branch = (i: number): AsyncIterable<Uint8Array> => ({
    [Symbol.asyncIterator]: () => ({
      async next(): Promise<IteratorResult<Uint8Array>> {
        for (;;) {
          if (failure) throw failure.e;
          const k = pos[i] - base;
          if (k < buf.length) {
            const c = buf[k];
            pos[i]++;
            trim();
            return { value: c, done: false };
          }
          if (ended) {
            finished[i] = true;
            trim();
            return { value: undefined, done: true };
          }
          if (buf.length >= ahead) await new Promise<void>((r) => waiters.push(r));
          else await pull();
        }
      },
      async return(): Promise<IteratorResult<Uint8Array>> {
        finished[i] = true;
        trim();
        return { value: undefined, done: true };
      },
    }),
  });
  return {
    branches: Array.from({ length: n }, (_, i) => branch(i)),
    abort(reason: unknown) {
      failure ??= { e: reason };
      wake();
    },
  };
}
