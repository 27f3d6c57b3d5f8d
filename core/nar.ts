// NAR (Nix ARchive): the canonical serialisation of a file system tree that
// Nix hashes and transfers. Byte-identical to `nix-store --dump`.
//
// Every token is a "string": a little-endian u64 length, the bytes, and zero
// padding to a multiple of 8. A node is
//   ( type regular [executable ""] contents <bytes> )
//   ( type symlink target <target> )
//   ( type directory (entry ( name <name> node <node> ))* )
// after the magic "nix-archive-1". Directory entries are sorted by the bytes
// of their names.
import { ByteReader } from "./byte-reader";
import { concatBytes } from "./bytes";

export type NarNode =
  | { type: "regular"; executable: boolean; contents: Uint8Array }
  | { type: "symlink"; target: string }
  | { type: "directory"; entries: Map<string, NarNode> };

export class NarError extends Error {
  constructor(message: string) {
    super(`bad NAR: ${message}`);
    this.name = "NarError";
  }
}

const MAGIC = "nix-archive-1";
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: false });
const FLUSH_AT = 256 * 1024;
/** Longest token, name or symlink target we accept (Nix's limits are far lower). */
const MAX_TOKEN = 64 * 1024;

function padLen(n: number): number {
  return (8 - (n % 8)) % 8;
}

/** Compares names by their UTF-8 bytes, as C++ Nix's std::map<std::string>. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function checkName(name: string): void {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0"))
    throw new NarError(`invalid file name '${name}'`);
}

// ---------------------------------------------------------------- writing, asynchronously

type Frame = { kind: "dir"; last: Uint8Array | null; pendingEntry: boolean } | { kind: "root" };

/**
 * Streaming NAR writer for any tree source, over NarEncoder: it checks the
 * structure (entry() before each child of a directory, names in strictly
 * ascending byte order, one root) and hands the bytes to an asynchronous
 * sink, waiting for it.
 */
export class NarWriter {
  private readonly enc: NarEncoder;
  private out: Uint8Array[] = [];
  private stack: Frame[] = [{ kind: "root" }];
  private rootWritten = false;
  private finished = false;

  constructor(private readonly sink: (chunk: Uint8Array) => void | Promise<void>) {
    // the encoder's own buffer is reused: keep a copy of it, and other bytes as they are
    this.enc = new NarEncoder((c, transient) => void this.out.push(transient ? new Uint8Array(c) : c), FLUSH_AT);
  }

  /** Bytes handed to the sink so far (the NAR size once finished). */
  get size(): number {
    return this.enc.size;
  }

  private async drain(): Promise<void> {
    while (this.out.length > 0) {
      const out = this.out;
      this.out = [];
      for (const c of out) await this.sink(c);
    }
  }

  /** Called at the start of every node: checks where it may go. */
  private beginNode(): void {
    if (this.finished) throw new NarError("write after finish");
    const top = this.stack[this.stack.length - 1];
    if (top.kind === "root") {
      if (this.rootWritten) throw new NarError("more than one root node");
      this.rootWritten = true;
    } else {
      if (!top.pendingEntry) throw new NarError("node written in a directory without entry()");
      top.pendingEntry = false;
    }
  }

  async regular(executable: boolean, size: number, contents: AsyncIterable<Uint8Array> | Uint8Array): Promise<void> {
    this.beginNode();
    this.enc.regular(executable, size);
    if (contents instanceof Uint8Array) {
      if (contents.length !== size) throw new NarError(`file size ${contents.length} does not match the declared ${size}`);
      this.enc.contents(contents);
    } else {
      let seen = 0;
      for await (const chunk of contents) {
        seen += chunk.length;
        if (seen > size) throw new NarError(`file contents longer than the declared ${size} bytes`);
        this.enc.contents(chunk);
        await this.drain();
      }
      if (seen !== size) throw new NarError(`file contents shorter (${seen}) than the declared ${size} bytes`);
    }
    this.enc.endFile(size);
    await this.drain();
  }

  async symlink(target: string): Promise<void> {
    this.beginNode();
    this.enc.symlink(target);
    await this.drain();
  }

  async startDirectory(): Promise<void> {
    this.beginNode();
    this.enc.startDirectory();
    this.stack.push({ kind: "dir", last: null, pendingEntry: false });
    await this.drain();
  }

  async entry(name: string): Promise<void> {
    const top = this.stack[this.stack.length - 1];
    if (top.kind !== "dir") throw new NarError("entry() outside a directory");
    if (top.pendingEntry) throw new NarError("entry() without a node for the previous entry");
    checkName(name);
    const nb = enc.encode(name);
    if (top.last && Buffer.compare(top.last, nb) >= 0) throw new NarError(`directory entries not sorted or duplicated at '${name}'`);
    top.last = nb;
    top.pendingEntry = true;
    this.enc.entry(name);
  }

  async endDirectory(): Promise<void> {
    const top = this.stack[this.stack.length - 1];
    if (top.kind !== "dir") throw new NarError("endDirectory() outside a directory");
    if (top.pendingEntry) throw new NarError("endDirectory() right after entry()");
    this.stack.pop();
    this.enc.endDirectory();
    await this.drain();
  }

  async finish(): Promise<void> {
    if (!this.rootWritten || this.stack.length !== 1) throw new NarError("incomplete NAR: the tree was not finished");
    this.enc.finish();
    await this.drain();
    this.finished = true;
  }
}

/**
 * An in-memory tree in NAR order: each node (a directory before its
 * entries), each entry's name before its node, and the end of each
 * directory. A loop with its own stack: trees may be deeper than the call
 * stack.
 */
function* treeEvents(root: NarNode): Generator<{ node: NarNode } | { entry: string } | { end: true }> {
  const open: { dir: Map<string, NarNode>; names: string[]; i: number }[] = [];
  let node: NarNode | null = root;
  for (;;) {
    if (node) {
      yield { node };
      if (node.type === "directory") open.push({ dir: node.entries, names: sortNames([...node.entries.keys()]), i: 0 });
      node = null;
    }
    const top = open[open.length - 1];
    if (!top) return;
    if (top.i === top.names.length) {
      yield { end: true };
      open.pop();
      continue;
    }
    const name = top.names[top.i++];
    yield { entry: name };
    node = top.dir.get(name)!;
  }
}

/** Writes an in-memory tree into a streaming writer. */
export async function writeTree(w: NarWriter, root: NarNode): Promise<void> {
  for (const ev of treeEvents(root)) {
    if ("entry" in ev) await w.entry(ev.entry);
    else if ("end" in ev) await w.endDirectory();
    else if (ev.node.type === "regular") await w.regular(ev.node.executable, ev.node.contents.length, ev.node.contents);
    else if (ev.node.type === "symlink") await w.symlink(ev.node.target);
    else await w.startDirectory();
  }
}

/** The NAR of an in-memory tree. */
export function narFromTree(root: NarNode): Uint8Array {
  // walked directly (an accessor would look every path up from the root: quadratic in the depth)
  return narOf((e) => {
    for (const ev of treeEvents(root)) {
      if ("entry" in ev) e.entry(ev.entry);
      else if ("end" in ev) e.endDirectory();
      else if (ev.node.type === "regular") e.file(ev.node.executable, ev.node.contents);
      else if (ev.node.type === "symlink") e.symlink(ev.node.target);
      else e.startDirectory();
    }
  });
}

/** Sorts names by their UTF-8 bytes (computing each name's bytes once). */
export function sortNames(names: string[]): string[] {
  // UTF-16 order equals UTF-8 byte order unless a name has chars >= U+D800
  if (names.every((n) => !/[\ud800-\uffff]/.test(n))) return names.sort();
  return names
    .map((n) => [n, Buffer.from(n, "utf8")] as const)
    .sort((a, b) => Buffer.compare(a[1], b[1]))
    .map((e) => e[0]);
}

/** Turns a push-style NAR producer into a pull-style stream (with a small queue). */
export async function* narStream(produce: (w: NarWriter) => Promise<void>): AsyncIterable<Uint8Array> {
  const queue: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  let resume: (() => void) | null = null;
  let done = false;
  let failure: unknown = null;
  const w = new NarWriter(async (c) => {
    queue.push(c);
    wake?.();
    if (queue.length > 4) await new Promise<void>((r) => (resume = r));
  });
  produce(w)
    .then(() => w.finish())
    .catch((e) => (failure = e))
    .finally(() => {
      done = true;
      wake?.();
    });
  for (;;) {
    if (queue.length > 0) {
      const c = queue.shift()!;
      const r = resume as (() => void) | null;
      resume = null;
      r?.();
      yield c;
      continue;
    }
    if (done) break;
    await new Promise<void>((r) => (wake = r));
    wake = null;
  }
  if (failure) throw failure;
}

// ---------------------------------------------------------------- encoding, synchronously

/** A file's type as Nix names it (readFileType, readDir, path filters). */
export type FileType = "regular" | "directory" | "symlink" | "unknown";

/**
 * The NAR encoder: framing and contents go into a buffer that is handed to
 * `sink` whenever it fills (and by finish()). A `transient` chunk is only
 * valid during the sink call (the buffer is reused): a sink that keeps it
 * copies it. Others are the caller's own bytes, passed through.
 * Names must be given in NAR order (sortNames); the walker below does that.
 */
export class NarEncoder {
  private readonly buf: Buffer;
  private n = 0;
  /** Bytes handed to the sink so far (the NAR's size after finish()). */
  size = 0;
  /** Open directory entries and directories: closing a node also closes its entry. */
  private depth = 0;

  constructor(
    private readonly sink: (chunk: Uint8Array, transient: boolean) => void,
    bufferSize = 1 << 16,
  ) {
    this.buf = Buffer.allocUnsafe(bufferSize);
    this.put(NAR_FRAMING.magic);
  }

  private flush(): void {
    if (this.n === 0) return;
    this.size += this.n;
    this.sink(this.buf.subarray(0, this.n), true);
    this.n = 0;
  }

  private put(b: Uint8Array): void {
    if (this.n + b.length > this.buf.length) {
      this.flush();
      if (b.length > this.buf.length) {
        this.size += b.length;
        this.sink(b, false);
        return;
      }
    }
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  private len64(len: number): void {
    if (this.n + 8 > this.buf.length) this.flush();
    const b = this.buf;
    let at = this.n;
    // little-endian by hand (writeUInt32LE's checks cost more than the write)
    let lo = len % 2 ** 32;
    let hi = Math.floor(len / 2 ** 32);
    for (let k = 0; k < 4; k++, lo >>>= 8) b[at++] = lo & 0xff;
    for (let k = 0; k < 4; k++, hi >>>= 8) b[at++] = hi & 0xff;
    this.n = at;
  }

  private pad(len: number): void {
    const p = (8 - (len % 8)) % 8;
    if (p === 0) return;
    if (this.n + p > this.buf.length) this.flush();
    this.buf.fill(0, this.n, this.n + p);
    this.n += p;
  }

  private str(s: string): void {
    const len = Buffer.byteLength(s, "utf8");
    this.len64(len);
    if (len > this.buf.length - this.n) {
      this.flush();
      if (len > this.buf.length) {
        this.size += len;
        this.sink(Buffer.from(s, "utf8"), false);
        this.pad(len);
        return;
      }
    }
    this.n += this.buf.write(s, this.n, "utf8");
    this.pad(len);
  }

  /** Starts a regular file of `size` bytes: contents() must follow with exactly that many, then endFile(). */
  regular(executable: boolean, size: number): void {
    this.put(executable ? NAR_FRAMING.executable : NAR_FRAMING.regular);
    this.len64(size);
  }

  contents(bytes: Uint8Array): void {
    this.put(bytes);
  }

  /** Room to read file contents into directly (at most `max` bytes): commit() what was read. */
  space(max: number): Uint8Array {
    if (this.n === this.buf.length) this.flush();
    return this.buf.subarray(this.n, this.n + Math.min(max, this.buf.length - this.n));
  }

  commit(bytes: number): void {
    this.n += bytes;
  }

  endFile(size: number): void {
    this.pad(size);
    this.close();
  }

  /** A whole regular file held in memory. */
  file(executable: boolean, contents: Uint8Array): void {
    this.regular(executable, contents.length);
    this.contents(contents);
    this.endFile(contents.length);
  }

  symlink(target: string): void {
    if (target === "" || target.includes("\0")) throw new NarError(`invalid symlink target '${target}'`);
    this.put(NAR_FRAMING.symlink);
    this.str(target);
    this.close();
  }

  startDirectory(): void {
    this.put(NAR_FRAMING.directory);
  }

  /** The next node is this directory entry. */
  entry(name: string): void {
    checkName(name);
    this.put(NAR_FRAMING.entry);
    this.str(name);
    this.put(NAR_FRAMING.node);
    this.depth++;
  }

  endDirectory(): void {
    this.close();
  }

  /** Closes a node, and the entry it is in. */
  private close(): void {
    this.put(NAR_FRAMING.close);
    if (this.depth > 0) {
      this.put(NAR_FRAMING.close);
      this.depth--;
    }
  }

  /** Hands the rest to the sink. */
  finish(): void {
    this.flush();
  }
}

/** A tree that cannot be walked: a file of an unsupported type, a file changing while it is read, a missing entry. */
export class TreeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TreeError";
  }
}

/** What dumpTree reads a tree through: the host file system, or a tree held elsewhere (a store). */
export interface TreeAccessor {
  /** The entry's own type (symlinks not followed); throws when it is missing. */
  lstat(path: string): { type: FileType; size: number; executable: boolean };
  /** A directory's entry names, in any order. */
  readDir(path: string): string[];
  readLink(path: string): string;
  readFile(path: string): Uint8Array;
  /** Writes a regular file's `size` bytes into the encoder (space()/commit()), sparing readFile's copy. */
  readFileInto?(path: string, size: number, enc: NarEncoder): void;
}

/**
 * The one tree walker: writes the NAR of `path` as `acc` sees it into `enc`
 * (without finishing it). `filter` is asked about every entry below the root,
 * with its path and type; false leaves the entry out.
 */
export function dumpTree(acc: TreeAccessor, path: string, enc: NarEncoder, filter?: (path: string, type: FileType) => boolean): void {
  // a loop with its own stack of open directories: trees may be deeper than the call stack
  const open: { prefix: string; names: string[]; i: number }[] = [];
  let p: string | null = path;
  let st = acc.lstat(path);
  for (;;) {
    if (p !== null) {
      switch (st.type) {
        case "regular":
          if (acc.readFileInto) {
            enc.regular(st.executable, st.size);
            acc.readFileInto(p, st.size, enc);
            enc.endFile(st.size);
          } else {
            const data = acc.readFile(p);
            if (data.length !== st.size) throw new TreeError(`file '${p}' changed size while it was read`);
            enc.file(st.executable, data);
          }
          break;
        case "symlink":
          enc.symlink(acc.readLink(p));
          break;
        case "directory":
          enc.startDirectory();
          open.push({ prefix: p.endsWith("/") ? p : p + "/", names: sortNames(acc.readDir(p)), i: 0 });
          break;
        default:
          throw new TreeError(`file '${p}' has an unsupported type`);
      }
      p = null;
    }
    const top = open[open.length - 1];
    if (!top) return;
    if (top.i === top.names.length) {
      enc.endDirectory();
      open.pop();
      continue;
    }
    const name = top.names[top.i++];
    const child = top.prefix + name;
    const cst = acc.lstat(child);
    if (filter && !filter(child, cst.type)) continue;
    enc.entry(name);
    p = child;
    st = cst;
  }
}

/** Reads a tree into memory through an accessor; `filter` as dumpTree's. */
export function treeToNode(acc: TreeAccessor, path: string, filter?: (path: string, type: FileType) => boolean): NarNode {
  const leaf = (p: string, type: FileType, executable: boolean): NarNode => {
    if (type === "symlink") return { type: "symlink", target: acc.readLink(p) };
    if (type === "regular") return { type: "regular", executable, contents: acc.readFile(p) };
    throw new TreeError(`file '${p}' has an unsupported type`);
  };
  const st = acc.lstat(path);
  if (st.type !== "directory") return leaf(path, st.type, st.executable);
  const root: NarNode = { type: "directory", entries: new Map() };
  // a work list, not recursion: trees may be deeper than the call stack
  const todo: [string, Map<string, NarNode>][] = [[path, root.entries]];
  while (todo.length > 0) {
    const [dir, entries] = todo.pop()!;
    const prefix = dir.endsWith("/") ? dir : dir + "/";
    for (const name of acc.readDir(dir)) {
      const child = prefix + name;
      const cst = acc.lstat(child);
      if (filter && !filter(child, cst.type)) continue;
      if (cst.type === "directory") {
        const sub: NarNode = { type: "directory", entries: new Map() };
        entries.set(name, sub);
        todo.push([child, sub.entries]);
      } else entries.set(name, leaf(child, cst.type, cst.executable));
    }
  }
  return root;
}

/** A tree held in memory, as a TreeAccessor (paths relative to `root`'s own path). */
export function memoryTreeAccessor(rootPath: string, root: NarNode): TreeAccessor {
  const find = (p: string): NarNode => {
    if (p === rootPath) return root;
    if (!p.startsWith(rootPath + "/")) throw new TreeError(`'${p}' is not in '${rootPath}'`);
    let n: NarNode | undefined = root;
    for (const c of p.slice(rootPath.length + 1).split("/")) {
      n = n.type === "directory" ? n.entries.get(c) : undefined;
      if (n === undefined) throw new TreeError(`'${p}' does not exist`);
    }
    return n;
  };
  return {
    lstat(p) {
      const n = find(p);
      return n.type === "regular" ? { type: "regular", size: n.contents.length, executable: n.executable } : { type: n.type, size: 0, executable: false };
    },
    readDir: (p) => {
      const n = find(p);
      return n.type === "directory" ? [...n.entries.keys()] : [];
    },
    readLink: (p) => (find(p) as { target: string }).target,
    readFile: (p) => (find(p) as { contents: Uint8Array }).contents,
  };
}

/** Encodes a NAR into one buffer. */
export function narOf(write: (enc: NarEncoder) => void): Uint8Array {
  const chunks: Uint8Array[] = [];
  const enc = new NarEncoder((c, transient) => chunks.push(transient ? new Uint8Array(c) : c));
  write(enc);
  enc.finish();
  return concatBytes(chunks, enc.size);
}

// ---------------------------------------------------------------- reading

export interface NarVisitor {
  directory?(path: string[]): void | Promise<void>;
  endDirectory?(path: string[]): void | Promise<void>;
  /** The visitor must drain `contents` before returning. */
  file(path: string[], executable: boolean, size: number, contents: AsyncIterable<Uint8Array>): Promise<void>;
  symlink(path: string[], target: string): void | Promise<void>;
}

/** The NAR token reader: exact byte counts plus NAR strings and padding. */
class NarReader extends ByteReader {
  constructor(source: AsyncIterable<Uint8Array>) {
    super(source, (wanted) => new NarError(wanted === "exact" ? "unexpected end of NAR (truncated)" : "unexpected end of NAR (truncated file contents)"));
  }


  async u64(): Promise<number> {
    const b = await this.exact(8);
    const lo = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
    const hi = b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24);
    if (hi >>> 0 > 0x1fffff) throw new NarError("length field too large");
    return (hi >>> 0) * 0x100000000 + (lo >>> 0);
  }

  async padding(n: number): Promise<void> {
    const p = padLen(n);
    if (p === 0) return;
    const b = await this.exact(p);
    for (let i = 0; i < p; i++) if (b[i] !== 0) throw new NarError("non-zero padding");
  }

  async bytes(max = MAX_TOKEN): Promise<Uint8Array> {
    const n = await this.u64();
    if (n > max) throw new NarError(`string of ${n} bytes is too long`);
    const b = await this.exact(n);
    await this.padding(n);
    return b;
  }

  async str(max = MAX_TOKEN): Promise<string> {
    return dec.decode(await this.bytes(max));
  }

  async expect(token: string): Promise<void> {
    const got = await this.str(64);
    if (got !== token) throw new NarError(`expected '${token}', got '${printable(got)}'`);
  }
}

function printable(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + "..." : s;
}

/**
 * Streams and validates a NAR, calling the visitor for each node. The `path`
 * a visitor gets is one array the reader keeps changing: copy it to keep it.
 * A loop with its own stack, not recursion: NARs may be deeper than the call
 * stack.
 */
export async function readNar(source: AsyncIterable<Uint8Array>, v: NarVisitor): Promise<{ narSize: number }> {
  const r = new NarReader(source);
  const magic = await r.str(64).catch((e) => {
    throw e instanceof NarError ? new NarError("not a NAR (input too short)") : e;
  });
  if (magic !== MAGIC) throw new NarError("not a NAR (wrong magic)");
  const path: string[] = [];
  /** For each open directory, the name of its last entry (entries must be sorted). */
  const lasts: (Uint8Array | null)[] = [];
  let atNode = true;
  for (;;) {
    if (atNode) {
      atNode = false;
      if (await readNode(r, path, v)) {
        lasts.push(null);
        continue;
      }
      // a file or symlink: it ends the root or its entry
      if (lasts.length === 0) break;
      path.pop();
      await r.expect(")");
      continue;
    }
    const tag = await r.str(64);
    if (tag === ")") {
      await v.endDirectory?.(path);
      lasts.pop();
      if (lasts.length === 0) break;
      path.pop();
      await r.expect(")");
      continue;
    }
    if (tag !== "entry") throw new NarError(`expected 'entry' or ')', got '${printable(tag)}'`);
    await r.expect("(");
    await r.expect("name");
    const nb = await r.bytes(4096);
    const name = dec.decode(nb);
    checkName(name);
    const last = lasts[lasts.length - 1];
    if (last && Buffer.compare(last, nb) >= 0) throw new NarError(`directory entries not sorted or duplicated at '${printable(name)}'`);
    lasts[lasts.length - 1] = nb;
    await r.expect("node");
    path.push(name);
    atNode = true;
  }
  if (!(await r.atEnd())) throw new NarError("trailing data after the NAR");
  return { narSize: r.consumed };
}

/** Reads one node up to its end, or a directory's opening; true for a directory (its entries follow). */
async function readNode(r: NarReader, path: string[], v: NarVisitor): Promise<boolean> {
  await r.expect("(");
  await r.expect("type");
  const type = await r.str(64);
  if (type === "regular") {
    let tag = await r.str(64);
    let executable = false;
    if (tag === "executable") {
      if ((await r.str(64)) !== "") throw new NarError("expected '' after 'executable'");
      executable = true;
      tag = await r.str(64);
    }
    if (tag !== "contents") throw new NarError(`expected 'contents', got '${printable(tag)}'`);
    const size = await r.u64();
    let left = size;
    let drained = false;
    const contents = (async function* () {
      while (left > 0) {
        const c = await r.some(Math.min(left, 1024 * 1024));
        left -= c.length;
        yield c;
      }
      drained = true;
    })();
    await v.file(path, executable, size, contents);
    if (!drained) {
      // the visitor did not (fully) drain: consume the rest ourselves
      for await (const _ of contents);
    }
    await r.padding(size);
    await r.expect(")");
    return false;
  }
  if (type === "symlink") {
    await r.expect("target");
    const target = await r.str();
    if (target === "" || target.includes("\0")) throw new NarError(`invalid symlink target '${printable(target)}'`);
    await v.symlink(path, target);
    await r.expect(")");
    return false;
  }
  if (type === "directory") {
    await v.directory?.(path);
    return true;
  }
  throw new NarError(`unknown node type '${printable(type)}'`);
}

/**
 * Parses a NAR held in memory into a tree, synchronously: file contents are
 * views into `nar` (no copies). The same checks and errors as readNar().
 */
/** The tokens a NAR is made of, by byte length (narTreeOfBuffer() matches them in place). */
const TOKENS_BY_LENGTH: [string, Uint8Array][][] = [];
for (const t of [MAGIC, "(", ")", "type", "regular", "executable", "contents", "symlink", "target", "directory", "entry", "name", "node", ""]) (TOKENS_BY_LENGTH[t.length] ??= []).push([t, enc.encode(t)]);

export function narTreeOfBuffer(nar: Uint8Array): NarNode {
  let at = 0;
  const truncated = (inContents = false) => new NarError(inContents ? "unexpected end of NAR (truncated file contents)" : "unexpected end of NAR (truncated)");
  const u64 = (): number => {
    if (at + 8 > nar.length) throw truncated();
    const b = nar;
    const lo = b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);
    const hi = b[at + 4] | (b[at + 5] << 8) | (b[at + 6] << 16) | (b[at + 7] << 24);
    at += 8;
    if (hi >>> 0 > 0x1fffff) throw new NarError("length field too large");
    return (hi >>> 0) * 0x100000000 + (lo >>> 0);
  };
  const padding = (n: number) => {
    const p = padLen(n);
    if (at + p > nar.length) throw truncated();
    for (let i = 0; i < p; i++) if (nar[at + i] !== 0) throw new NarError("non-zero padding");
    at += p;
  };
  const bytes = (max = MAX_TOKEN): Uint8Array => {
    const n = u64();
    if (n > max) throw new NarError(`string of ${n} bytes is too long`);
    if (at + n > nar.length) throw truncated();
    const b = nar.subarray(at, at + n);
    at += n;
    padding(n);
    return b;
  };
  const str = (max = MAX_TOKEN) => dec.decode(bytes(max));
  /** A short string: one of the NAR's own tokens without decoding it (no string or view per token), else decoded. */
  const tok = (): string => {
    const n = u64();
    if (n > 64) throw new NarError(`string of ${n} bytes is too long`);
    if (at + n > nar.length) throw truncated();
    const from = at;
    at += n;
    padding(n);
    const known = TOKENS_BY_LENGTH[n];
    if (known)
      for (const [t, b] of known) {
        let i = 0;
        while (i < n && nar[from + i] === b[i]) i++;
        if (i === n) return t;
      }
    return dec.decode(nar.subarray(from, from + n));
  };
  const expect = (token: string) => {
    const got = tok();
    if (got !== token) throw new NarError(`expected '${token}', got '${printable(got)}'`);
  };
  // directories being read, innermost last: a loop, not recursion, so any depth parses
  const open: { entries: Map<string, NarNode>; last: Uint8Array | null }[] = [];
  /** Reads a node up to its end, or, for a directory, its header (pushed on `open`). */
  const start = (): NarNode => {
    expect("(");
    expect("type");
    const type = tok();
    if (type === "regular") {
      let tag = tok();
      let executable = false;
      if (tag === "executable") {
        if (tok() !== "") throw new NarError("expected '' after 'executable'");
        executable = true;
        tag = tok();
      }
      if (tag !== "contents") throw new NarError(`expected 'contents', got '${printable(tag)}'`);
      const size = u64();
      if (at + size > nar.length) throw truncated(true);
      const contents = nar.subarray(at, at + size);
      at += size;
      padding(size);
      expect(")");
      return { type: "regular", executable, contents };
    }
    if (type === "symlink") {
      expect("target");
      const target = str();
      if (target === "" || target.includes("\0")) throw new NarError(`invalid symlink target '${printable(target)}'`);
      expect(")");
      return { type: "symlink", target };
    }
    if (type !== "directory") throw new NarError(`unknown node type '${printable(type)}'`);
    const entries = new Map<string, NarNode>();
    open.push({ entries, last: null });
    return { type: "directory", entries };
  };
  const node = (): NarNode => {
    const root = start();
    while (open.length > 0) {
      const dir = open[open.length - 1];
      const tag = tok();
      if (tag === ")") {
        open.pop();
        if (open.length > 0) expect(")"); // the end of the entry this directory was
        continue;
      }
      if (tag !== "entry") throw new NarError(`expected 'entry' or ')', got '${printable(tag)}'`);
      expect("(");
      expect("name");
      const nb = bytes(4096);
      const name = dec.decode(nb);
      checkName(name);
      if (dir.last && Buffer.compare(dir.last, nb) >= 0) throw new NarError(`directory entries not sorted or duplicated at '${printable(name)}'`);
      dir.last = nb;
      expect("node");
      const depth = open.length;
      dir.entries.set(name, start());
      if (open.length === depth) expect(")"); // a file or symlink: its entry ends here
    }
    return root;
  };
  let magic: string;
  try {
    magic = tok();
  } catch (e) {
    throw e instanceof NarError ? new NarError("not a NAR (input too short)") : e;
  }
  if (magic !== MAGIC) throw new NarError("not a NAR (wrong magic)");
  const root = node();
  if (at !== nar.length) throw new NarError("trailing data after the NAR");
  return root;
}

/** A deep copy of a tree (file contents copied), with a work list rather than recursion. */
function copyTree(root: NarNode): NarNode {
  const leaf = (n: NarNode): NarNode => (n.type === "regular" ? { ...n, contents: new Uint8Array(n.contents) } : n);
  if (root.type !== "directory") return leaf(root);
  const top: NarNode = { type: "directory", entries: new Map() };
  const work: [Map<string, NarNode>, Map<string, NarNode>][] = [[root.entries, top.entries]];
  for (let w = work.pop(); w; w = work.pop()) {
    const [from, to] = w;
    for (const [name, n] of from) {
      if (n.type !== "directory") {
        to.set(name, leaf(n));
        continue;
      }
      const entries = new Map<string, NarNode>();
      to.set(name, { type: "directory", entries });
      work.push([n.entries, entries]);
    }
  }
  return top;
}

/** Parses a (small) NAR held in memory into a tree (contents copied out of `nar`). */
export async function parseNarToTree(nar: Uint8Array): Promise<NarNode> {
  return copyTree(narTreeOfBuffer(nar));
}

/** NAR strings as framed bytes (length, text, padding). */
function narStrings(...ss: string[]): Uint8Array {
  // byte by byte: these run at start-up, where Buffer#write's first call costs ~3 ms
  const out = new Uint8Array(ss.reduce((n, s) => n + 8 + Math.ceil(s.length / 8) * 8, 0));
  let at = 0;
  for (const s of ss) {
    out[at] = s.length; // all shorter than 256
    for (let i = 0; i < s.length; i++) out[at + 8 + i] = s.charCodeAt(i);
    at += 8 + Math.ceil(s.length / 8) * 8;
  }
  return out;
}

/** The framing a NAR writer emits around names, targets and contents: the runs every node and entry start with. */
export const NAR_FRAMING = {
  magic: narStrings("nix-archive-1"),
  regular: narStrings("(", "type", "regular", "contents"),
  executable: narStrings("(", "type", "regular", "executable", "", "contents"),
  symlink: narStrings("(", "type", "symlink", "target"),
  directory: narStrings("(", "type", "directory"),
  entry: narStrings("entry", "(", "name"),
  node: narStrings("node"),
  close: narStrings(")"),
};
