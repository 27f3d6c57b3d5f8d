// What the evaluator needs from a store. The evaluator never touches a store
// directly: `tvix eval` gives it a ReadOnlyStore, which computes store paths
// exactly as Nix does (Nix's --eval is read-only too) without writing them;
// the store issue plugs a writing implementation in here.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { Pos } from "./ast";
import { EvalError } from "./value";
import { NarNode, narFromTree } from "../core/nar";
import { hashBytes } from "../core/hash";
import { makeFixedOutputPath, makeTextPath } from "../core/store-path";
import { baseNameOf } from "./paths";

export interface EvalStore {
  readonly storeDir: string;
  /** Adds a file system path (as `"${./p}"` does): returns its store path. */
  addPath(path: string, pos: Pos | null, name?: string, filter?: (path: string, type: string) => boolean): string;
  /** builtins.toFile: returns its store path. */
  addTextFile(name: string, contents: string, references: string[]): string;
  /** Stores a .drv file whose path was computed by the evaluator (optional: read-only stores skip it). */
  writeDerivation?(drvPath: string, text: string, references: string[]): void;
}

/** Reads a file system tree into memory (sources are small), applying a filter. */
export function readTree(path: string, filter?: (path: string, type: string) => boolean): NarNode {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return { type: "symlink", target: readlinkSync(path) };
  if (st.isFile()) return { type: "regular", executable: (st.mode & 0o100) !== 0, contents: readFileSync(path) };
  if (st.isDirectory()) {
    const entries = new Map<string, NarNode>();
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      if (filter) {
        const cst = lstatSync(child);
        const type = cst.isSymbolicLink() ? "symlink" : cst.isDirectory() ? "directory" : cst.isFile() ? "regular" : "unknown";
        if (!filter(child, type)) continue;
      }
      entries.set(name, readTree(child, filter));
    }
    return { type: "directory", entries };
  }
  throw new EvalError(`file '${path}' has an unsupported type`);
}

export class ReadOnlyStore implements EvalStore {
  constructor(readonly storeDir: string) {}

  addPath(path: string, pos: Pos | null, name?: string, filter?: (path: string, type: string) => boolean): string {
    let tree: NarNode;
    try {
      tree = readTree(path, filter);
    } catch (e) {
      if (e instanceof EvalError) throw e;
      throw new EvalError(`path '${path}' does not exist`, pos);
    }
    const narHash = hashBytes("sha256", narFromTree(tree));
    return makeFixedOutputPath(name ?? baseNameOf(path), narHash, true, [], this.storeDir).toAbsolute(this.storeDir);
  }

  addTextFile(name: string, contents: string, references: string[]): string {
    return makeTextPath(name, hashBytes("sha256", contents), references, this.storeDir).toAbsolute(this.storeDir);
  }
}
