// EvalIO: the one interface through which the evaluator touches the world
// outside the language (as Tvix's eval/src/io.rs): files and directories,
// adding paths to the store, and the parse cache's storage. The evaluator
// itself imports no file system or process module; the embedding (glue/)
// gives it an implementation: the host file system, or a store-aware one
// that also serves store paths from the configured store and the paths this
// evaluation added.
import type { Hash } from "../core/hash";

/** A file's type as Nix names it (readFileType, readDir, the types path filters are told of). */
export type FileType = "regular" | "directory" | "symlink" | "unknown";

/** An I/O failure; `code` is the errno name where there is one ("ENOENT", "ENOTDIR", ...). */
export class IOError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "IOError";
  }
}

/** How `importPath` adds a path (builtins.path, filterSource, interpolation of a path value). */
export interface ImportOptions {
  /** The store path's name (default: the path's base name). */
  name?: string;
  /** Called for every entry below the root with its absolute path and type; false leaves it out. */
  filter?: (path: string, type: FileType) => boolean;
  /** Hash a single regular file's bytes (recursive = false) instead of its NAR. */
  flat?: boolean;
  /** The expected content hash (its algorithm is the one used). */
  expected?: Hash;
}

/** A version of a file, for the parse cache (eval/ast-cache.ts). */
export interface FileStamp {
  /** Changes whenever the contents may have: device, inode, size and times; the path itself for immutable store paths. */
  stamp: string;
  size: number;
  /** When the file last changed (ms since the epoch; 0 for store paths, which never change). */
  changedMs: number;
}

/** Key-value files for the parse cache (eval/ast-cache.ts); failures are silent misses. */
export interface ParseCacheStorage {
  read(name: string): Uint8Array | undefined;
  /** Writes an entry atomically; false when it could not. */
  write(name: string, data: Uint8Array): boolean;
  /** Removes the oldest entries when the cache holds more than `limitBytes`. */
  prune(limitBytes: number): void;
}

export interface EvalIO {
  readonly storeDir: string;
  /** The type of the file at `path`, not following a final symlink; null when it does not exist. */
  fileType(path: string): FileType | null;
  /** The type of what `path` resolves to, following symlinks; null when it does not resolve. */
  resolvedType(path: string): FileType | null;
  /** A file's bytes (following symlinks). Throws IOError. */
  readFile(path: string): Uint8Array;
  /** A file's text as UTF-8 (source files, readFile). Throws IOError. */
  readTextFile(path: string): string;
  /** A directory's entries and their types (following symlinks to the directory). Throws IOError. */
  readDir(path: string): [name: string, type: FileType][];
  /** Adds a path to the store, as Nix's addToStore: returns its store path. Throws IOError or EvalError. */
  importPath(path: string, opts: ImportOptions): string;
  /** What the parse cache knows this version of a regular file by, or null: it then finds the file by its text. */
  fileStamp(path: string): FileStamp | null;
  /** The parse cache's storage, if there is one. */
  readonly parseCache?: ParseCacheStorage;
  /** Whether this evaluation added the store path (pure/restricted evaluation may read those). */
  isOwnStorePath?(storePath: string): boolean;
  /** The path with its symlinks resolved, as far as it exists (pure/restricted evaluation checks where links lead). */
  realPath?(path: string): string;
  /** Makes a path readable in pure/restricted evaluation (a store path given with string context). */
  allowPath?(path: string): void;
}

/** The message Nix gives for an errno code. */
export function describeIOError(e: unknown): string {
  if (e instanceof IOError) {
    switch (e.code) {
      case "ENOENT":
        return "No such file or directory";
      case "ENOTDIR":
        return "Not a directory";
      case "EISDIR":
        return "Is a directory";
      case "EACCES":
        return "Permission denied";
      case "ELOOP":
        return "Too many levels of symbolic links";
    }
  }
  return (e as Error).message;
}
