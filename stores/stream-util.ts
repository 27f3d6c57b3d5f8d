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
