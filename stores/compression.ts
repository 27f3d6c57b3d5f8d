// NAR compression for binary caches: none, xz, zstd, bzip2, gzip and br.
//
// Decompression runs in-process, so the single binary needs no tools:
// zstd, gzip and br through Node's zlib (zstd since Node 22.15/24), xz
// through xz-embedded compiled to WebAssembly (the xz-decompress package),
// bzip2 through core/bzip2.ts. TVIX_EXTERNAL_DECOMPRESSORS=1 uses the xz,
// zstd and bzip2 tools instead where they are installed (a speed path: the
// xz tool decodes ~1.4x faster). Compression is in-process for zstd, gzip
// and br; xz and bzip2 compression need the xz and bzip2 tools.
import { Readable } from "node:stream";
import { Bzip2Decoder } from "../core/bzip2";
import { lazyModule } from "../core/lazy-module";

// loaded when a NAR is (de)compressed: opening a store that never does so need not load them
const zlibModule = () => lazyModule<typeof import("node:zlib")>("node:zlib");
const childProcess = () => lazyModule<typeof import("node:child_process")>("node:child_process");

export type Compression = "none" | "xz" | "zstd" | "bzip2" | "gzip" | "br";

const EXTENSIONS: Record<Compression, string> = { none: "", xz: ".xz", zstd: ".zst", bzip2: ".bz2", gzip: ".gz", br: ".br" };

export function parseCompression(s: string): Compression {
  if (s === "" ) return "none";
  if (s in EXTENSIONS) return s as Compression;
  throw new Error(`unknown compression method '${s}' (supported: ${Object.keys(EXTENSIONS).join(", ")})`);
}

/** The file extension Nix uses after ".nar" ("" for none). */
export function compressionExtension(c: Compression): string {
  return EXTENSIONS[c];
}

export interface CompressOptions {
  /** Use all cores (xz -T0, zstd -T0), like Nix's parallel-compression=true. */
  parallel?: boolean;
  /** Compression level (tool default when absent). */
  level?: number;
}

function toolArgs(c: Compression, decompress: boolean, o: CompressOptions): [string, string[]] {
  const lvl = o.level !== undefined ? [`-${o.level}`] : [];
  switch (c) {
    case "xz":
      return ["xz", decompress ? ["-dc"] : ["-c", ...lvl, o.parallel ? "-T0" : "-T1"]];
    case "zstd":
      return ["zstd", decompress ? ["-dcq"] : ["-cq", ...lvl, ...(o.parallel ? ["-T0"] : [])]];
    case "bzip2":
      return ["bzip2", decompress ? ["-dc"] : ["-c", ...lvl]];
    default:
      throw new Error(`no tool for ${c}`);
  }
}

const toolFound = new Map<string, boolean>();
function haveTool(cmd: string): boolean {
  let ok = toolFound.get(cmd);
  if (ok === undefined) toolFound.set(cmd, (ok = childProcess().spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0));
  return ok;
}

/** Whether to decompress `c` with its tool rather than in-process (TVIX_EXTERNAL_DECOMPRESSORS=1 and the tool installed). */
function externalDecompressor(c: Compression): boolean {
  return process.env.TVIX_EXTERNAL_DECOMPRESSORS === "1" && (c === "xz" || c === "zstd" || c === "bzip2") && haveTool(toolArgs(c, true, {})[0]);
}

function throughZlib(t: import("node:stream").Transform, input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const src = Readable.from(input, { objectMode: false });
  src.on("error", (e) => t.destroy(e));
  return src.pipe(t);
}

/** Transforms a byte stream with `compression` (or undoes it with `decompress`). */
export function transformStream(
  c: Compression,
  decompress: boolean,
  input: AsyncIterable<Uint8Array>,
  opts: CompressOptions = {},
): AsyncIterable<Uint8Array> {
  if (c === "none") return input;
  if (c === "gzip") return throughZlib(decompress ? zlibModule().createGunzip() : zlibModule().createGzip(opts.level !== undefined ? { level: opts.level } : {}), input);
  if (c === "br") return throughZlib(decompress ? zlibModule().createBrotliDecompress() : zlibModule().createBrotliCompress(), input);
  if (decompress && !externalDecompressor(c)) {
    if (c === "zstd" && typeof zlibModule().createZstdDecompress === "function") return throughZlib(zlibModule().createZstdDecompress(), input);
    if (c === "xz") return unxz(input);
    if (c === "bzip2") return bunzip2(input);
  }
  if (!decompress && c === "zstd" && typeof zlibModule().createZstdCompress === "function") {
    const params: Record<number, number> = {};
    if (opts.level !== undefined) params[zlibModule().constants.ZSTD_c_compressionLevel] = opts.level;
    return throughZlib(zlibModule().createZstdCompress({ params }), input);
  }
  const [cmd, args] = toolArgs(c, decompress, opts);
  // xz and bzip2 compression have no in-process encoder: say what does without a tool
  const what = decompress ? `decompressing with ${c}` : `compressing with ${c} (needs the ${cmd} tool; compression=zstd needs none)`;
  return throughProcess(cmd, args, input, what);
}

export const compress = (c: Compression, input: AsyncIterable<Uint8Array>, opts?: CompressOptions) => transformStream(c, false, input, opts);
export const decompress = (c: Compression, input: AsyncIterable<Uint8Array>) => transformStream(c, true, input);

/** bzip2 in JavaScript (core/bzip2.ts), block by block. */
async function* bunzip2(input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const d = new Bzip2Decoder();
  for await (const chunk of input) {
    d.push(chunk);
    yield* d.blocks();
  }
  d.end();
  yield* d.blocks();
}

// xz-embedded's return codes (xz_ret), as the WebAssembly build reports them
const XZ_ERRORS: Record<string, string> = {
  "3": "out of memory",
  "4": "the data needs more memory than allowed",
  "5": "not xz data (bad header)",
  "6": "the data uses an unsupported option (e.g. a SHA-256 check or an unknown filter)",
  "7": "corrupt data",
  "8": "unexpected end of data (truncated)",
};

/** xz through xz-embedded (WebAssembly). */
async function* unxz(input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const { XzReadableStream } = await import("xz-decompress");
  const source = ReadableStream.from(input) as ReadableStream<Uint8Array>;
  try {
    for await (const chunk of new XzReadableStream(source) as unknown as AsyncIterable<Uint8Array>) yield chunk;
  } catch (e) {
    const code = /error code (\d+)/.exec((e as Error)?.message ?? "")?.[1];
    if (code !== undefined) throw new Error(`decompressing with xz: ${XZ_ERRORS[code] ?? `error ${code}`}`);
    throw e;
  }
}

/**
 * Streams `input` through a child process' stdin and yields its stdout, with
 * backpressure both ways. Fails if the tool exits non-zero or the input fails;
 * kills the tool when the consumer stops early.
 */
export async function* throughProcess(cmd: string, args: string[], input: AsyncIterable<Uint8Array>, what: string): AsyncIterable<Uint8Array> {
  const child = childProcess().spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  let spawnError: Error | null = null;
  const exited = new Promise<number | null>((resolve) => {
    child.on("error", (e) => {
      spawnError = (e as NodeJS.ErrnoException).code === "ENOENT" ? new Error(`${what}: '${cmd}' is not installed`) : e;
      resolve(null);
    });
    child.on("close", (code) => resolve(code));
  });
  let inputError: unknown = null;
  child.stdin.on("error", () => {}); // EPIPE when the tool dies; reported through its exit status
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        if (child.stdin.destroyed) break;
        if (!child.stdin.write(chunk)) {
          await new Promise<void>((r) => {
            const done = () => {
              child.stdin.off("drain", done);
              child.stdin.off("close", done);
              r();
            };
            child.stdin.on("drain", done);
            child.stdin.on("close", done);
          });
        }
      }
      child.stdin.end();
    } catch (e) {
      inputError = e;
      child.kill("SIGKILL");
    }
  })();
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Uint8Array;
    await feeding;
    const code = await exited;
    finished = true;
    if (inputError) throw inputError;
    if (spawnError) throw spawnError;
    if (code !== 0) throw new Error(`${what} failed: ${stderr.trim() || `${cmd} exited with ${code}`}`);
  } finally {
    if (!finished) {
      child.kill("SIGKILL");
      await feeding.catch(() => {});
    }
  }
}
