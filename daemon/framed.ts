// A framed stream from the client (AddToStoreNar from 1.23, AddToStore from
// 1.25, AddMultipleToStore, AddBuildLog): frames of u64 length + bytes, up
// to an empty frame. Unlike a generator, stopping the iteration early does
// not lose the rest: drain() reads up to the end frame whatever happened, so
// an operation that fails half-way leaves the connection in step.
import { WireError, type WireReader } from "../core/wire";

/** Largest frame accepted (C++ Nix sends at most 32 KiB; larger ones are hostile). */
const MAX_FRAME = 64 * 1024 * 1024;

export class FramedSource implements AsyncIterable<Uint8Array> {
  private ended = false;
  /** A framing error: the stream cannot be followed past it. */
  private broken: Error | null = null;
  /** Bytes of the current frame not yet handed out (`copy: false` hands a frame out in pieces). */
  private left = 0;

  /**
   * `copy: false`: frames are views into the reader's received chunks (the
   * socket's, fresh for every read), for a consumer that copies or uses
   * each frame before it reads the next. A frame that spans received
   * chunks then comes as several pieces, not gathered into a copy.
   */
  constructor(
    private readonly r: WireReader,
    private readonly opts: { copy: boolean } = { copy: true },
  ) {}

  private async nextFrame(): Promise<Uint8Array | null> {
    if (this.broken) throw this.broken;
    if (this.ended) return null;
    try {
      if (this.left === 0) {
        const n = await this.r.u64OrBig();
        if (n === 0) {
          this.ended = true;
          return null;
        }
        if (n > MAX_FRAME) throw new WireError(`refusing a ${n}-byte frame (limit ${MAX_FRAME})`);
        if (this.opts.copy) return new Uint8Array(await this.r.exact(Number(n)));
        this.left = Number(n);
      }
      const piece = await this.r.some(this.left);
      this.left -= piece.length;
      return piece;
    } catch (e) {
      this.broken = e as Error;
      throw e;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        const f = await this.nextFrame();
        return f ? { value: f, done: false } : { value: undefined, done: true };
      },
      // leaving a loop early keeps the unread frames for drain()
      return: async () => ({ value: undefined, done: true }),
    };
  }

  /** Reads (and drops) what is left, up to the end frame. */
  async drain(): Promise<void> {
    while (await this.nextFrame());
  }

  get done(): boolean {
    return this.ended;
  }
}
