// Pulls exact byte counts out of a chunked async source (sockets, NAR
// streams). Shared by the NAR reader and the daemon wire reader; each gives
// the error to throw when the stream ends early.
const enc = new TextEncoder();

export type EndOfStream = (wanted: "exact" | "some", missing: number) => Error;

export class ByteReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private off = 0;
  private it: AsyncIterator<Uint8Array | Buffer | string>;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(source: AsyncIterable<Uint8Array | Buffer | string>, private readonly endOfStream: EndOfStream) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.off >= this.chunk.length) {
      const r = await this.it.next();
      if (r.done) return false;
      const v = r.value;
      this.chunk = typeof v === "string" ? enc.encode(v) : v;
      this.off = 0;
    }
    return true;
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

  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }
}
