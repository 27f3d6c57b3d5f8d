// Buffers for the NARs AddMultipleToStore holds in memory, used again
// from path to path: fresh memory costs a page fault per 4 KiB on first
// touch (measured here: 64 MB copied into fresh buffers 200 ms, into used
// ones 5 ms). Small NARs share slabs (one allocation per SLAB bytes), a
// slab used again once none of its NARs is in use; larger ones get a
// buffer of their size class (a multiple of 1 MiB).
//
// A buffer must only be handed back (release()) once nothing reads it any
// more: the store copies what it keeps (blobs consumed synchronously) and
// the view's writes have ended. The caller decides that (see ops.ts).

/** NARs up to this size share slabs. */
const SLAB_NAR_MAX = 64 * 1024;
const SLAB = 1024 * 1024;
const CLASS = 1024 * 1024;
/** Memory kept for use again, free slabs and buffers together. */
const KEEP_BYTES = 96 * 1024 * 1024;

interface Slab {
  buf: Uint8Array;
  used: number;
  live: number;
}

export interface NarBuffer {
  /** The NAR's bytes (exactly its size). */
  bytes: Uint8Array;
  /** Hands the memory back for use again (at most once). */
  release(): void;
}

const fresh = (n: number) => new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n); // not zero-filled: the caller writes every byte

export class NarBuffers {
  private slab: Slab | null = null;
  private freeSlabs: Slab[] = [];
  private freeBuffers = new Map<number, Uint8Array[]>();
  private keptBytes = 0;

  take(size: number): NarBuffer {
    if (size <= SLAB_NAR_MAX) return this.fromSlab(size);
    const cap = Math.ceil(size / CLASS) * CLASS;
    const list = this.freeBuffers.get(cap);
    let buf = list?.pop();
    if (buf) this.keptBytes -= cap;
    else buf = fresh(cap);
    let released = false;
    return {
      bytes: buf.subarray(0, size),
      release: () => {
        if (released) return;
        released = true;
        if (this.keptBytes + cap > KEEP_BYTES) return;
        this.keptBytes += cap;
        const l = this.freeBuffers.get(cap);
        if (l) l.push(buf);
        else this.freeBuffers.set(cap, [buf]);
      },
    };
  }

  private fromSlab(size: number): NarBuffer {
    let s = this.slab;
    if (!s || s.used + size > s.buf.length) {
      const old = s;
      s = this.freeSlabs.pop() ?? null;
      if (s) this.keptBytes -= SLAB;
      else s = { buf: fresh(SLAB), used: 0, live: 0 };
      this.slab = s;
      if (old && old.live === 0) this.keepSlab(old);
    }
    const slab = s;
    const bytes = slab.buf.subarray(slab.used, slab.used + size);
    slab.used += size;
    slab.live++;
    let released = false;
    return {
      bytes,
      release: () => {
        if (released) return;
        released = true;
        if (--slab.live === 0 && slab !== this.slab) this.keepSlab(slab);
      },
    };
  }

  private keepSlab(s: Slab): void {
    if (this.keptBytes + SLAB > KEEP_BYTES) return;
    s.used = 0;
    this.keptBytes += SLAB;
    this.freeSlabs.push(s);
  }
}
