// A parse cache: the syntax tree of a file, encoded compactly, kept under
// the cache directory by the hash of what it was parsed from (format, file
// name, directory and text). nixpkgs' files are parsed on every evaluation,
// before the JIT has warmed up; decoding a tree is several times cheaper
// than scanning and parsing its text again.
//
// An entry is only ever read back for the exact text it was made from, so
// it cannot be stale; a damaged one (its checksum fails) is ignored and
// replaced. Writes go to a temporary file renamed into place. TVIX_AST_CACHE=0
// turns the cache off.
//
// Reading and hashing the text costs about as much as decoding the tree, so
// a second kind of entry is found by the file's stamp instead (device, inode,
// size, modification and change times): a copy of the text's entry, made
// once the file has not changed for a while (settleMs). Any later write to
// the file gives it a newer change time, so a stamp never stands for two
// texts (the "racy git" rule: a change within the clock tick of the stamp
// could keep it, which is why a fresh file is not stamped yet).
import { decodeBytes, encodeBytes } from "./utf8";
import { createHash } from "../core/digest";
import type { AttrName, BinOp, Binding, Bindings, Expr, Formal, LambdaExpr, Pos } from "./ast";
import type { FileStamp, ParseCacheStorage } from "./io";
import { passFatal } from "./limits";

const MAGIC = "TVIXAST4";
/** A stamped entry: this, the length of its key and the key, the text's length, then a text's entry. */
const STAMP_MAGIC = "TVIXSTM2";
/** How long a file must have stayed unchanged before its stamp stands for its text (TVIX_AST_CACHE_SETTLE_MS, for tests). */
const settleMs = (): number => Number(process.env.TVIX_AST_CACHE_SETTLE_MS ?? 3000);
/** Files smaller than this are parsed: reading a cache entry costs about as much (TVIX_AST_CACHE_MIN, for tests). */
const MIN_SOURCE = Number(process.env.TVIX_AST_CACHE_MIN || 2048);
/** When the entries pass this size, the least recently written are removed down to half of it. */
export const PARSE_CACHE_LIMIT_BYTES = Number(process.env.TVIX_AST_CACHE_MB || 256) * 1024 * 1024;

// node tags
const T_INT = 1, T_BIGINT = 2, T_FLOAT = 3, T_STR = 4, T_PATH = 5, T_SPATH = 6, T_VAR = 7, T_SELECT = 8, T_SELECT_OR = 9,
  T_HASATTR = 10, T_ATTRS = 11, T_RECATTRS = 12, T_LIST = 13, T_LAMBDA = 14, T_FLAMBDA = 15, T_CALL = 16, T_LET = 17,
  T_WITH = 18, T_IF = 19, T_ASSERT = 20, T_NOT = 21, T_NEG = 22, T_BINOP = 23;
// binding value tags
const B_EXPR = 1, B_INHERIT = 2, B_FROM = 3;
const OPS: BinOp[] = ["+", "-", "*", "/", "++", "//", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "->"];
const OP_INDEX = new Map(OPS.map((o, i) => [o, i]));

export function astCacheEnabled(): boolean {
  return process.env.TVIX_AST_CACHE !== "0";
}

/**
 * The names in global scope take part in the key: an entry also says that
 * its file compiled without undefined variables (state.ts), which depends on
 * them.
 */
let globalsKey = "";
export function setCacheGlobals(names: Iterable<string>): void {
  globalsKey = createHash("sha256").update([...names].sort().join("\0")).digest("hex").slice(0, 16);
}

function keyOf(src: string, file: string, baseDir: string): string {
  return createHash("sha256").update(`${MAGIC}\0${globalsKey}\0${file}\0${baseDir}\0`).update(src).digest("hex");
}

/**
 * What a file's stamped entry is kept under, from the stamp its EvalIO gave;
 * null for a file too small to cache or changed too recently.
 */
export function stampKey(file: string, baseDir: string, st: FileStamp): string | null {
  if (st.size < MIN_SOURCE || !astCacheEnabled()) return null;
  if (st.changedMs > Date.now() - settleMs()) return null;
  return `${STAMP_MAGIC}\0${globalsKey}\0${file}\0${baseDir}\0${st.stamp}`;
}

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));

/**
 * The cached tree of the file with this stamp, without reading the file:
 * `origin` registers the text by its length and gives the base position.
 */
export function readStampedAst(storage: ParseCacheStorage, stamp: string, origin: (textLength: number) => Pos): Expr | undefined {
  const raw = storage.read(nameOf(stamp));
  if (raw === undefined) return undefined;
  const buf = asBuffer(raw);
  try {
    const m = STAMP_MAGIC.length;
    if (buf.length < m + 8 || buf.toString("latin1", 0, m) !== STAMP_MAGIC) throw new CacheDamaged("magic");
    const keyLen = buf.readUInt32LE(m);
    if (buf.length < m + 8 + keyLen || buf.toString("utf8", m + 4, m + 4 + keyLen) !== stamp) throw new CacheDamaged("stamp");
    const textLength = buf.readUInt32LE(m + 4 + keyLen);
    return decode(buf.subarray(m + 8 + keyLen), origin(textLength));
  } catch (e) {
    passFatal(e);
    return undefined;
  }
}

/** The cached tree for this text, or undefined (no entry, or a damaged one); found, it is stamped too (stamp: stampKey's). */
export function readCachedAst(storage: ParseCacheStorage, src: string, file: string, baseDir: string, base: Pos, stamp: string | null = null): Expr | undefined {
  if (src.length < MIN_SOURCE || !astCacheEnabled()) return undefined;
  const raw = storage.read(keyOf(src, file, baseDir));
  if (raw === undefined) return undefined;
  const buf = asBuffer(raw);
  let tree: Expr;
  try {
    tree = decode(buf, base);
  } catch (e) {
    passFatal(e);
    return undefined;
  }
  if (stamp !== null) writeStamped(storage, stamp, src.length, buf);
  return tree;
}

/** Stores the tree parsed from this text, and its stamped copy (best effort: a cache that cannot be written is skipped). */
export function writeCachedAst(storage: ParseCacheStorage, src: string, file: string, baseDir: string, base: Pos, e: Expr, stamp: string | null = null): void {
  if (src.length < MIN_SOURCE || !astCacheEnabled()) return;
  let data: Buffer;
  try {
    data = encode(e, base);
  } catch (err) {
    passFatal(err);
    return;
  }
  if (writeEntry(storage, keyOf(src, file, baseDir), data) && stamp !== null) writeStamped(storage, stamp, src.length, data);
}

function writeStamped(storage: ParseCacheStorage, stamp: string, textLength: number, entry: Buffer): void {
  const key = Buffer.from(stamp, "utf8");
  const head = Buffer.alloc(STAMP_MAGIC.length + 4);
  head.write(STAMP_MAGIC, 0, "latin1");
  head.writeUInt32LE(key.length, STAMP_MAGIC.length);
  writeEntry(storage, nameOf(stamp), Buffer.concat([head, key, u32Bytes(textLength), entry]));
}

function writeEntry(storage: ParseCacheStorage, name: string, data: Buffer): boolean {
  if (!storage.write(name, data)) return false;
  // now and then (one write in 64), keep the cache within its limit
  if (Math.random() < 1 / 64) storage.prune(PARSE_CACHE_LIMIT_BYTES);
  return true;
}

function nameOf(stamp: string): string {
  return "s-" + createHash("sha256").update(stamp).digest("hex").slice(0, 40);
}

function u32Bytes(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

// ---------------------------------------------------------------- encoding

class Writer {
  private buf = new Uint8Array(1 << 16);
  len = 0;
  private readonly strings = new Map<string, number>();
  readonly stringList: string[] = [];

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }
  /** An unsigned integer below 2^53, 7 bits a byte. */
  uv(v: number): void {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }
  /** Four bytes to be filled later (put32): a length known once what follows is written. */
  reserve32(): number {
    this.room(4);
    this.len += 4;
    return this.len - 4;
  }
  put32(at: number, v: number): void {
    new DataView(this.buf.buffer).setUint32(at, v, true);
  }
  f64(v: number): void {
    this.room(8);
    new DataView(this.buf.buffer).setFloat64(this.len, v, true);
    this.len += 8;
  }
  str(s: string): void {
    let i = this.strings.get(s);
    if (i === undefined) {
      i = this.stringList.length;
      this.strings.set(s, i);
      this.stringList.push(s);
    }
    this.uv(i);
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function encode(root: Expr, base: Pos): Buffer {
  const w = new Writer();
  const pos = (p: Pos) => w.uv(p - base);
  const opt = (e: Expr | undefined) => {
    if (e === undefined) w.u8(0);
    else {
      w.u8(1);
      expr(e);
    }
  };
  const parts = (ps: (string | Expr)[]) => {
    w.uv(ps.length);
    for (const p of ps) {
      if (typeof p === "string") {
        w.u8(0);
        w.str(p);
      } else {
        w.u8(1);
        expr(p);
      }
    }
  };
  const attrPath = (path: AttrName[]) => {
    w.uv(path.length);
    for (const a of path) {
      if (a.kind === "static") {
        w.u8(0);
        w.str(a.name);
      } else {
        w.u8(1);
        expr(a.expr);
      }
      pos(a.pos);
    }
  };
  const bindings = (b: Bindings) => {
    w.uv(b.static.size);
    for (const [name, bind] of b.static) {
      w.str(name);
      pos(bind.pos);
      const v = bind.value;
      if (v.kind === "expr") {
        w.u8(B_EXPR);
        expr(v.expr);
      } else if (v.kind === "inherit") {
        w.u8(B_INHERIT);
        w.str(v.expr.name);
        pos(v.expr.pos);
      } else {
        w.u8(B_FROM);
        w.uv(v.from);
        w.str(v.name);
        pos(v.pos);
      }
    }
    w.uv(b.dynamic.length);
    for (const d of b.dynamic) {
      expr(d.name);
      expr(d.value);
      pos(d.pos);
    }
    w.uv(b.inheritFrom.length);
    for (const x of b.inheritFrom) expr(x);
  };
  const lambdaName = (e: LambdaExpr) => {
    if (e.name === undefined) w.u8(0);
    else {
      w.u8(1);
      w.str(e.name);
    }
  };
  const expr = (e: Expr): void => {
    switch (e.kind) {
      case "int":
        if (e.value <= 9007199254740991n) {
          w.u8(T_INT);
          w.uv(Number(e.value));
        } else {
          w.u8(T_BIGINT);
          w.str(e.value.toString());
        }
        break;
      case "float":
        w.u8(T_FLOAT);
        w.f64(e.value);
        break;
      case "str":
        w.u8(T_STR);
        parts(e.parts);
        break;
      case "path":
        w.u8(T_PATH);
        parts(e.parts);
        w.str(e.baseDir);
        break;
      case "searchPath":
        w.u8(T_SPATH);
        w.str(e.path);
        break;
      case "var":
        w.u8(T_VAR);
        w.str(e.name);
        break;
      case "select":
        w.u8(e.default === undefined ? T_SELECT : T_SELECT_OR);
        expr(e.expr);
        attrPath(e.path);
        if (e.default !== undefined) expr(e.default);
        break;
      case "hasAttr":
        w.u8(T_HASATTR);
        expr(e.expr);
        attrPath(e.path);
        break;
      case "attrs":
        w.u8(e.rec ? T_RECATTRS : T_ATTRS);
        bindings(e.bindings);
        break;
      case "list":
        w.u8(T_LIST);
        w.uv(e.elems.length);
        for (const x of e.elems) expr(x);
        break;
      case "lambda":
        if (e.formals) {
          w.u8(T_FLAMBDA);
          w.uv(e.formals.entries.length);
          for (const f of e.formals.entries) {
            w.str(f.name);
            opt(f.default);
            pos(f.pos);
          }
          w.u8(e.formals.ellipsis ? 1 : 0);
          if (e.arg === undefined) w.u8(0);
          else {
            w.u8(1);
            w.str(e.arg);
          }
        } else {
          w.u8(T_LAMBDA);
          w.str(e.arg!);
        }
        if (e.body.kind === "lambda") {
          // compiling `x: y: ...` looks into the inner lambda at once
          w.u8(0);
          expr(e.body);
        } else {
          // decoded when the body is compiled (its first call): its outline, its length, the body
          w.u8(1);
          w.uv(e.body.kind === "let" ? e.body.bindings.static.size + 1 : 0);
          const at = w.reserve32();
          expr(e.body);
          w.put32(at, w.len - at - 4);
        }
        lambdaName(e);
        break;
      case "call":
        w.u8(T_CALL);
        expr(e.fn);
        expr(e.arg);
        break;
      case "let":
        w.u8(T_LET);
        bindings(e.bindings);
        expr(e.body);
        break;
      case "with":
        w.u8(T_WITH);
        expr(e.env);
        expr(e.body);
        break;
      case "if":
        w.u8(T_IF);
        expr(e.cond);
        expr(e.then);
        expr(e.else);
        break;
      case "assert":
        w.u8(T_ASSERT);
        expr(e.cond);
        expr(e.body);
        break;
      case "not":
        w.u8(T_NOT);
        expr(e.expr);
        break;
      case "neg":
        w.u8(T_NEG);
        expr(e.expr);
        break;
      case "binop":
        w.u8(T_BINOP);
        w.u8(OP_INDEX.get(e.op)!);
        expr(e.left);
        expr(e.right);
        break;
    }
    pos(e.pos);
  };
  expr(root);
  const nodes = w.bytes();
  // the strings: their lengths (in UTF-16 units), then all of them as one UTF-8 text
  const lens = new Writer();
  lens.uv(w.stringList.length);
  for (const s of w.stringList) lens.uv(s.length);
  const text = encodeBytes(w.stringList.join("")); // (raw bytes as themselves, eval/utf8.ts)
  const payload = Buffer.concat([Buffer.from(lens.bytes()), uvBytes(text.length), text, nodes]);
  const header = Buffer.alloc(MAGIC.length + 4 + 32);
  header.write(MAGIC, 0, "latin1");
  header.writeUInt32LE(payload.length, MAGIC.length);
  createHash("sha256").update(payload).digest().copy(header, MAGIC.length + 4);
  return Buffer.concat([header, payload]);
}

function uvBytes(v: number): Buffer {
  const w = new Writer();
  w.uv(v);
  return Buffer.from(w.bytes());
}

// ---------------------------------------------------------------- decoding

class CacheDamaged extends Error {}

function damagedTag(tag: number): never {
  throw new CacheDamaged(`tag ${tag}`);
}

/** Rebuilds a tree with the object shapes the parser makes (so the compiler sees the same shapes either way). */
function decode(buf: Buffer, base: Pos): Expr {
  const h = MAGIC.length + 4 + 32;
  if (buf.length < h || buf.toString("latin1", 0, MAGIC.length) !== MAGIC) throw new CacheDamaged("magic");
  const len = buf.readUInt32LE(MAGIC.length);
  if (buf.length !== h + len) throw new CacheDamaged("length");
  const payload = buf.subarray(h);
  if (!createHash("sha256").update(payload).digest().equals(buf.subarray(MAGIC.length + 4, h))) throw new CacheDamaged("checksum");
  const b = payload;
  let i = 0;
  const u8 = () => b[i++];
  const uv = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const c = b[i++];
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 0x80;
    }
  };
  const nstr = uv();
  const lens = new Array<number>(nstr);
  for (let k = 0; k < nstr; k++) lens[k] = uv();
  const textLen = uv();
  const text = decodeBytes(b.subarray(i, i + textLen));
  i += textLen;
  const strings = new Array<string>(nstr);
  for (let k = 0, off = 0; k < nstr; k++) {
    strings[k] = text.slice(off, off + lens[k]);
    off += lens[k];
  }
  const str = () => strings[uv()];
  const pos = () => base + uv();
  const parts = (): (string | Expr)[] => {
    const n = uv();
    const out = new Array<string | Expr>(n);
    for (let k = 0; k < n; k++) out[k] = u8() === 0 ? str() : expr();
    return out;
  };
  const attrPath = (): AttrName[] => {
    const n = uv();
    const out = new Array<AttrName>(n);
    for (let k = 0; k < n; k++) {
      if (u8() === 0) {
        const name = str();
        out[k] = { kind: "static", name, pos: pos() };
      } else {
        const e = expr();
        out[k] = { kind: "dynamic", expr: e, pos: pos() };
      }
    }
    return out;
  };
  const bindings = (): Bindings => {
    const b: Bindings = { static: new Map(), dynamic: [], inheritFrom: [] };
    const n = uv();
    for (let k = 0; k < n; k++) {
      const name = str();
      const bpos = pos();
      const tag = u8();
      let bind: Binding;
      if (tag === B_EXPR) bind = { value: { kind: "expr", expr: expr() }, pos: bpos };
      else if (tag === B_INHERIT) {
        const vname = str();
        bind = { value: { kind: "inherit", expr: { kind: "var", name: vname, pos: pos() } }, pos: bpos };
      } else if (tag === B_FROM) {
        const from = uv();
        const iname = str();
        bind = { value: { kind: "inheritFrom", from, name: iname, pos: pos() }, pos: bpos };
      } else throw new CacheDamaged("binding");
      b.static.set(name, bind);
    }
    const nd = uv();
    for (let k = 0; k < nd; k++) {
      const name = expr();
      const value = expr();
      b.dynamic.push({ name, value, pos: pos() });
    }
    const nf = uv();
    for (let k = 0; k < nf; k++) b.inheritFrom.push(expr());
    return b;
  };
  // One small function per tag, not one switch: TurboFan compiles each hot
  // one on its own, in a short job. The whole switch took one job of 25-50 ms
  // that often began as the last files were decoded, too late to pay off,
  // and a run's exit waits for the job in progress.
  const decoders: ((tag: number) => Expr)[] = [];
  decoders[T_INT] = () => {
    const value = BigInt(uv());
    return { kind: "int", value, pos: pos() };
  };
  decoders[T_BIGINT] = () => {
    const value = BigInt(str());
    return { kind: "int", value, pos: pos() };
  };
  decoders[T_FLOAT] = () => {
    const value = b.readDoubleLE(i);
    i += 8;
    return { kind: "float", value, pos: pos() };
  };
  decoders[T_STR] = () => {
    const ps = parts();
    return { kind: "str", parts: ps, pos: pos() };
  };
  decoders[T_PATH] = () => {
    const ps = parts();
    const baseDir = str();
    return { kind: "path", parts: ps, baseDir, pos: pos() };
  };
  decoders[T_SPATH] = () => {
    const path = str();
    return { kind: "searchPath", path, pos: pos() };
  };
  decoders[T_VAR] = () => {
    const name = str();
    return { kind: "var", name, pos: pos() };
  };
  decoders[T_SELECT] = () => {
    const e = expr();
    const path = attrPath();
    return { kind: "select", expr: e, path, pos: pos() };
  };
  decoders[T_SELECT_OR] = () => {
    const e = expr();
    const path = attrPath();
    const def = expr();
    return { kind: "select", expr: e, path, default: def, pos: pos() };
  };
  decoders[T_HASATTR] = () => {
    const e = expr();
    const path = attrPath();
    return { kind: "hasAttr", expr: e, path, pos: pos() };
  };
  decoders[T_ATTRS] = decoders[T_RECATTRS] = (tag) => {
    const bs = bindings();
    return { kind: "attrs", rec: tag === T_RECATTRS, bindings: bs, pos: pos() };
  };
  decoders[T_LIST] = () => {
    const n = uv();
    const elems = new Array<Expr>(n);
    for (let k = 0; k < n; k++) elems[k] = expr();
    return { kind: "list", elems, pos: pos() };
  };
  decoders[T_LAMBDA] = () => {
    const arg = str();
    const body = lambdaBody();
    const name = u8() === 1 ? str() : undefined;
    const lam: LambdaExpr = { kind: "lambda", arg, body: body as Expr, pos: pos() };
    if (name !== undefined) lam.name = name;
    if (typeof body === "number") decodeLater(lam, body);
    return lam;
  };
  decoders[T_FLAMBDA] = () => {
    const n = uv();
    const entries = new Array<Formal>(n);
    for (let k = 0; k < n; k++) {
      const name = str();
      const def = u8() === 1 ? expr() : undefined;
      entries[k] = { name, default: def, pos: pos() };
    }
    const ellipsis = u8() === 1;
    const arg = u8() === 1 ? str() : undefined;
    const body = lambdaBody();
    const name = u8() === 1 ? str() : undefined;
    const lam: LambdaExpr = { kind: "lambda", formals: { entries, ellipsis }, body: body as Expr, pos: pos() };
    if (arg !== undefined) lam.arg = arg;
    if (name !== undefined) lam.name = name;
    if (typeof body === "number") decodeLater(lam, body);
    return lam;
  };
  decoders[T_CALL] = () => {
    const fn = expr();
    const arg = expr();
    return { kind: "call", fn, arg, pos: pos() };
  };
  decoders[T_LET] = () => {
    const bs = bindings();
    const body = expr();
    return { kind: "let", bindings: bs, body, pos: pos() };
  };
  decoders[T_WITH] = () => {
    const env = expr();
    const body = expr();
    return { kind: "with", env, body, pos: pos() };
  };
  decoders[T_IF] = () => {
    const cond = expr();
    const then = expr();
    const els = expr();
    return { kind: "if", cond, then, else: els, pos: pos() };
  };
  decoders[T_ASSERT] = () => {
    const cond = expr();
    const body = expr();
    return { kind: "assert", cond, body, pos: pos() };
  };
  decoders[T_NOT] = () => {
    const e = expr();
    return { kind: "not", expr: e, pos: pos() };
  };
  decoders[T_NEG] = () => {
    const e = expr();
    return { kind: "neg", expr: e, pos: pos() };
  };
  decoders[T_BINOP] = () => {
    const op = OPS[u8()];
    const left = expr();
    const right = expr();
    return { kind: "binop", op, left, right, pos: pos() };
  };
  for (let t = 0; t < decoders.length; t++) decoders[t] ??= damagedTag;
  const expr = (): Expr => {
    const tag = i < b.length ? b[i++] : 0;
    const d = tag < decoders.length ? decoders[tag] : damagedTag;
    return d(tag);
  };
  // A lambda's body: decoded now (a lambda), or its offset, skipped (decodeLater)
  let outline: { let: boolean; letSize: number } | undefined;
  const lambdaBody = (): Expr | number => {
    if (u8() === 0) return expr();
    const l = uv();
    outline = { let: l > 0, letSize: l - 1 };
    const n = b.readUInt32LE(i);
    const at = i + 4;
    i = at + n;
    return at;
  };
  /** Makes `body` a property that decodes the body the first time it is read. */
  const decodeLater = (lam: LambdaExpr, at: number) => {
    lam.outline = outline;
    Object.defineProperty(lam, "body", {
      configurable: true,
      enumerable: true,
      get() {
        const saved = i;
        i = at;
        let body: Expr;
        try {
          body = expr();
        } finally {
          i = saved;
        }
        Object.defineProperty(lam, "body", { value: body, writable: true, enumerable: true, configurable: true });
        delete lam.outline;
        return body;
      },
    });
  };
  const root = expr();
  if (i !== b.length) throw new CacheDamaged("trailing bytes");
  return root;
}

/** For tests: a tree through the encoding and back. */
export function roundTrip(e: Expr, base: Pos, newBase: Pos = base): Expr {
  return decode(encode(e, base), newBase);
}
