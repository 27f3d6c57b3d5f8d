// Pulls exact byte counts out of a chunked async source (sockets, NAR
// streams). Shared by the NAR reader and the daemon wire reader; each gives
// the error to throw when the stream ends early.
const enc = new TextEncoder();

/** Thrown by tryParse()'s take() when the bytes at hand run short. */
const SHORT = Symbol("short");

export type EndOfStream = (wanted: "exact" | "some", missing: number) => Error;

export class ByteReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private off = 0;
  private it: AsyncIterator<Uint8Array | Buffer | string>;
  /** The source read in progress: concurrent waits (atEnd while another read waits) share it. */
  private pending: Promise<boolean> | null = null;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(source: AsyncIterable<Uint8Array | Buffer | string>, private readonly endOfStream: EndOfStream) {
    this.it = source[Symbol.asyncIterator]();
  }

  private fill(): Promise<boolean> {
    if (this.off < this.chunk.length) return Promise.resolve(true);
    return (this.pending ??= this.pull());
  }

  private async pull(): Promise<boolean> {
    try {
      while (this.off >= this.chunk.length) {
        const r = await this.it.next();
        if (r.done) return false;
        const v = r.value;
        this.chunk = typeof v === "string" ? enc.encode(v) : v;
        this.off = 0;
      }
      return true;
    } finally {
      // cleared before any waiter resumes
      this.pending = null;
    }
  }

  /** Exactly n bytes (a view into the source's chunk when possible). */
  async exact(n: number): Promise<Uint8Array> {
    if (this.off + n <= this.chunk.length) {
      const out = this.chunk.subarray(this.off, this.off + n);
      this.off += n;
      this.consumed += n;
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (!(await this.fill())) throw this.endOfStream("exact", n - got);
      const take = Math.min(n - got, this.chunk.length - this.off);
      out.set(this.chunk.subarray(this.off, this.off + take), got);
      this.off += take;
      got += take;
    }
    this.consumed += n;
    return out;
  }

  /** Between 1 and max bytes, whatever is available first. */
  async some(max: number): Promise<Uint8Array> {
    if (!(await this.fill())) throw this.endOfStream("some", max);
    const take = Math.min(max, this.chunk.length - this.off);
    const out = this.chunk.subarray(this.off, this.off + take);
    this.off += take;
    this.consumed += take;
    return out;
  }

  /** some() without waiting: undefined when no bytes are at hand. */
  someNow(max: number): Uint8Array | undefined {
    if (this.off >= this.chunk.length) return undefined;
    const take = Math.min(max, this.chunk.length - this.off);
    const out = this.chunk.subarray(this.off, this.off + take);
    this.off += take;
    this.consumed += take;
    return out;
  }

  /**
   * Runs `parse` over the bytes at hand, `take(n)` handing out views of
   * them; when they run short (`take` does not wait for more), nothing is
   * consumed and the result is undefined, for the caller to read them
   * asynchronously instead. An error `parse` throws otherwise is thrown.
   * (An await per value costs a promise and a turn of the microtask queue;
   * most small values are at hand already.)
   */
  tryParse<T>(parse: (take: (n: number) => Uint8Array) => T): T | undefined {
    const off = this.off;
    const consumed = this.consumed;
    try {
      return parse(this.takeNow);
    } catch (e) {
      if (e !== SHORT) throw e;
      this.off = off;
      this.consumed = consumed;
      return undefined;
    }
  }

  private readonly takeNow = (n: number): Uint8Array => {
    if (this.off + n > this.chunk.length) throw SHORT;
    const out = this.chunk.subarray(this.off, this.off + n);
    this.off += n;
    this.consumed += n;
    return out;
  };

  /** Whether the source has ended (waits for data or the end; consumes nothing; safe while another read waits). */
  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }
}
