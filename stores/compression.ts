// NAR compression for binary caches: none, xz, zstd, bzip2 (through the CLI
// tools, streamed through child processes), gzip and br (Node's zlib).
import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import * as zlib from "node:zlib";

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

/** Transforms a byte stream with `compression` (or undoes it with `decompress`). */
export function transformStream(
  c: Compression,
  decompress: boolean,
  input: AsyncIterable<Uint8Array>,
  opts: CompressOptions = {},
): AsyncIterable<Uint8Array> {
  if (c === "none") return input;
  if (c === "gzip" || c === "br") {
    const t =
      c === "gzip"
        ? decompress ? zlib.createGunzip() : zlib.createGzip(opts.level !== undefined ? { level: opts.level } : {})
        : decompress ? zlib.createBrotliDecompress() : zlib.createBrotliCompress();
    const src = Readable.from(input, { objectMode: false });
    src.on("error", (e) => t.destroy(e));
    return src.pipe(t);
  }
  const [cmd, args] = toolArgs(c, decompress, opts);
  return throughProcess(cmd, args, input, `${decompress ? "decompressing" : "compressing"} with ${c}`);
}

export const compress = (c: Compression, input: AsyncIterable<Uint8Array>, opts?: CompressOptions) => transformStream(c, false, input, opts);
export const decompress = (c: Compression, input: AsyncIterable<Uint8Array>) => transformStream(c, true, input);

/**
 * Streams `input` through a child process' stdin and yields its stdout, with
 * backpressure both ways. Fails if the tool exits non-zero or the input fails;
 * kills the tool when the consumer stops early.
 */
export async function* throughProcess(cmd: string, args: string[], input: AsyncIterable<Uint8Array>, what: string): AsyncIterable<Uint8Array> {
  const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
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
