// Fetchers: builtins.fetchurl, fetchTarball, fetchGit and fetchTree (types
// file, tarball, git, path). With a known hash and a read-only evaluation the
// store path is computed without fetching (as Tvix does); otherwise the data
// is downloaded (glue/fetch/download.ts on a sync-call worker), verified and
// added to the evaluation's store view (and written afterwards when the
// evaluation writes).
import { RestrictedIO, RestrictedPathError } from "../eval/restricted-io";
import { mkdirs } from "../stores/mkdirs";
import { lazyModule } from "../core/lazy-module";
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "../core/digest";
import type { Pos } from "../eval/ast";
import type { EvalState } from "../eval/state";
import { EvalError, Lazy, NixAttrs, NixPath, Value, force, forceAttrs, forceBool, forceString, storePathString, strValue, isString, typeError } from "../eval/value";
import type { BuiltinExtension } from "../eval/builtins/registry";
import { Hash, hashBytes } from "../core/hash";
import { makeFixedOutputPath } from "../core/store-path";
import { narFromTree, treeToNode, type NarNode } from "../core/nar";
import { coerceToString } from "../eval/coerce";
import { canonPath } from "../eval/paths";
import { passFatal } from "../eval/limits";
import { hostTree } from "../stores/host-tree";
import { fetchCacheDir } from "./fetch/download";
import { callSync } from "./sync-calls";
import type { Glue } from "./context";

interface FetchArgs {
  url: string;
  name?: string;
  sha256?: Hash;
}

/** Parses fetchurl/fetchTarball arguments: a URL string or { url, sha256?, name? }. */
function fetchArgs(state: EvalState, l: Lazy, who: string, pos: Pos | null): FetchArgs {
  const v = force(l);
  let out: FetchArgs;
  if (v instanceof NixAttrs) {
    out = { url: "" };
    for (const k of v.keys()) {
      const a = v.get(k)!;
      if (k === "url") out.url = forceString(a, pos);
      else if (k === "sha256") {
        const s = forceString(a, pos);
        if (s !== "") out.sha256 = parseHash(s, "sha256", pos);
      } else if (k === "name") out.name = forceString(a, pos);
      else throw new EvalError(`unsupported argument '${k}' to '${who}'`, pos);
    }
    if (!out.url) throw new EvalError(`'url' argument required`, pos);
  } else {
    if (!isString(v)) throw typeError("string", v, pos);
    out = { url: strValue(v) };
  }
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(out.url)) throw new EvalError(`'${out.url}' is not a valid URL`, pos);
  if (state.options.pureEval && !out.sha256) throw new EvalError(`in pure evaluation mode, '${who}' requires a 'sha256' argument`, pos);
  checkURI(state, out.url, pos);
  return out;
}

/** Whether allowed-uris lets `uri` through: equal to a prefix, below one (at a '/'), or of a whole scheme ("github:"), as Nix. */
export function isAllowedURI(uri: string, allowed: readonly string[]): boolean {
  return allowed.some(
    (prefix) =>
      uri === prefix ||
      (prefix.length > 0 &&
        uri.length > prefix.length &&
        uri.startsWith(prefix) &&
        (prefix.endsWith("/") || uri[prefix.length] === "/" || (prefix.endsWith(":") && /^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(prefix.slice(0, -1))))),
  );
}

/** In restricted mode a fetcher may use only allowed-uris (and allowed paths for local ones), as Nix's checkURI. */
function checkURI(state: EvalState, uri: string, pos: Pos | null): void {
  if (!state.options.restrictEval) return;
  if (isAllowedURI(uri, state.options.allowedUris ?? [])) return;
  const local = uri.startsWith("/") ? uri : uri.startsWith("file://") ? uri.slice(7) : null;
  if (local !== null) {
    if (state.io instanceof RestrictedIO) state.io.check(local);
    return;
  }
  throw new RestrictedPathError(`access to URI '${uri}' is forbidden in restricted mode`, pos);
}

function parseHash(s: string, algo: "sha256", pos: Pos | null): Hash {
  try {
    return Hash.parse(s, algo);
  } catch (e) {
    passFatal(e);
    throw new EvalError((e as Error).message, pos);
  }
}

function urlBaseName(url: string): string {
  const p = url.replace(/[?#].*$/, "");
  const i = p.lastIndexOf("/");
  return i >= 0 ? p.slice(i + 1) : p;
}

/** A sync call's failure as an evaluation error. */
function fetchCall<T>(run: () => T, pos: Pos | null): T {
  try {
    return run();
  } catch (e) {
    passFatal(e);
    throw new EvalError((e as Error).message, pos);
  }
}

function mismatch(url: string, expected: Hash, got: Hash, pos: Pos | null): EvalError {
  return new EvalError(`hash mismatch in file downloaded from '${url}':\n  specified: ${expected.toSRI()}\n  got:       ${got.toSRI()}`, pos);
}


/** Adds a tree the evaluation fetched under its content address. */
function addFetched(glue: Glue, name: string, node: NarNode, flat: boolean, hash: Hash): string {
  const storeDir = glue.io.storeDir;
  const path = makeFixedOutputPath(name, hash, !flat, [], storeDir).toAbsolute(storeDir);
  glue.io.addTree(path, node, `fixed:${flat ? "" : "r:"}${hash.format("nix32", true)}`);
  return path;
}

/** builtins.fetchurl (unpack = false) and builtins.fetchTarball (unpack = true). */
function fetchUrlLike(glue: Glue, state: EvalState, args: FetchArgs, unpack: boolean, pos: Pos | null): { path: string; narHash: Hash } {
  const name = args.name ?? (unpack ? "source" : urlBaseName(args.url));
  const storeDir = glue.io.storeDir;
  if (args.sha256 && !glue.io.writes) {
    // read-only evaluation with a known hash: the path needs no data (for a
    // flat file the NAR hash is then unknown, but only fetchTree asks, for tarballs)
    return { path: makeFixedOutputPath(name, args.sha256, unpack, [], storeDir).toAbsolute(storeDir), narHash: args.sha256 };
  }
  const dl = fetchCall(() => callSync("download", { url: args.url, ttl: state.options.tarballTtl ?? Number(process.env.TVIX_TARBALL_TTL ?? 3600) }), pos);
  if (!unpack) {
    const data = readFileSync(dl.file);
    const got = hashBytes("sha256", data);
    if (args.sha256 && !got.equals(args.sha256)) throw mismatch(args.url, args.sha256, got, pos);
    const node: NarNode = { type: "regular", executable: false, contents: data };
    return { path: addFetched(glue, name, node, true, got), narHash: hashBytes("sha256", narFromTree(node)) };
  }
  const tree = fetchCall(() => callSync("unpack", { file: dl.file, url: args.url }), pos);
  const narHash = hashBytes("sha256", narFromTree(tree));
  if (args.sha256 && !narHash.equals(args.sha256)) throw mismatch(args.url, args.sha256, narHash, pos);
  return { path: addFetched(glue, name, tree, false, narHash), narHash };
}

// ---------------------------------------------------------------- git

function git(args: string[], cwd?: string, env?: NodeJS.ProcessEnv): string {
  try {
    return lazyModule<typeof import("node:child_process")>("node:child_process").execFileSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 30 });
  } catch (e) {
    passFatal(e);
    const err = e as { stderr?: string; message: string };
    throw new EvalError(`git ${args[0]} failed: ${(err.stderr || err.message).trim()}`);
  }
}

interface GitArgs {
  url: string;
  name: string;
  rev?: string;
  ref?: string;
  submodules: boolean;
  shallow: boolean;
  allRefs: boolean;
  narHash?: Hash;
}

function gitArgs(state: EvalState, l: Lazy, pos: Pos | null): GitArgs {
  const v = force(l);
  const out: GitArgs = { url: "", name: "source", submodules: false, shallow: false, allRefs: false };
  const urlOf = (x: Lazy) => {
    const xv = force(x);
    return xv instanceof NixPath ? xv.path : strValue(coerceToString(state, xv, pos, { coerceMore: false, copyToStore: false }));
  };
  if (v instanceof NixAttrs) {
    for (const k of v.keys()) {
      const a = v.get(k)!;
      if (k === "url") out.url = urlOf(a);
      else if (k === "name") out.name = forceString(a, pos);
      else if (k === "rev") out.rev = forceString(a, pos);
      else if (k === "ref") out.ref = forceString(a, pos);
      else if (k === "submodules") out.submodules = forceBool(a, pos);
      else if (k === "shallow") out.shallow = forceBool(a, pos);
      else if (k === "allRefs") out.allRefs = forceBool(a, pos);
      else if (k === "narHash") out.narHash = Hash.parse(forceString(a, pos));
      else if (k === "type" || k === "lastModified" || k === "revCount") continue;
      else throw new EvalError(`unsupported argument '${k}' to 'fetchGit'`, pos);
    }
  } else out.url = urlOf(v);
  if (!out.url) throw new EvalError(`'url' argument required`, pos);
  if (out.rev !== undefined && !/^[0-9a-f]{40}$/.test(out.rev)) throw new EvalError(`hash '${out.rev}' is not supported by fetchGit (a full 40-character commit hash is required)`, pos);
  if (state.options.pureEval && !out.rev) throw new EvalError(`in pure evaluation mode, 'fetchGit' will not fetch unlocked input '${gitInputURI(out)}'`, pos);
  if (state.options.restrictEval) checkURI(state, gitInputURI(out), pos);
  return out;
}

/** The URI Nix checks against allowed-uris for a fetchGit input ("git+file:///src?exportIgnore=1&rev=..."). */
function gitInputURI(a: GitArgs): string {
  const base = a.url.startsWith("/") ? `file://${a.url}` : a.url.replace(/^git\+/, "");
  const q: string[] = [];
  if (a.allRefs) q.push("allRefs=1");
  q.push("exportIgnore=1");
  if (a.ref !== undefined) q.push(`ref=${a.ref}`);
  if (a.rev !== undefined) q.push(`rev=${a.rev}`);
  if (a.shallow) q.push("shallow=1");
  if (a.submodules) q.push("submodules=1");
  return `git+${base}?${q.join("&")}`;
}

function gitTimeAttrs(repo: string, rev: string): [string, Value][] {
  const ct = Number(git(["log", "-1", "--format=%ct", rev], repo).trim());
  const d = new Date(ct * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  const date = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  return [["lastModified", ct], ["lastModifiedDate", date]];
}

function fetchGit(glue: Glue, a: GitArgs, pos: Pos | null): NixAttrs {
  const local = a.url.startsWith("/") ? a.url : a.url.startsWith("file://") ? a.url.slice(7) : null;
  // A local working tree without rev/ref that has uncommitted changes: Nix
  // takes the tracked files as they are on disk and reports a dirty revision.
  if (local && !a.rev && !a.ref && existsSync(join(local, ".git"))) {
    const status = git(["status", "--porcelain", "--untracked-files=no"], local).trim();
    if (status !== "") {
      const files = git(["ls-files", "-z"], local).split("\0").filter(Boolean);
      const set = new Set(files);
      const dirs = new Set<string>();
      for (const f of files) for (let i = f.indexOf("/"); i >= 0; i = f.indexOf("/", i + 1)) dirs.add(f.slice(0, i));
      const tree = treeToNode(hostTree, local, (p) => {
        const rel = p.slice(local.length + 1);
        return set.has(rel) || dirs.has(rel);
      });
      const narHash = hashBytes("sha256", narFromTree(tree));
      const path = addFetched(glue, a.name, tree, false, narHash);
      const head = git(["rev-parse", "HEAD"], local).trim();
      return NixAttrs.from([
        ["outPath", storePathString(path)],
        ["dirtyRev", `${head}-dirty`],
        ["dirtyShortRev", `${head.slice(0, 7)}-dirty`],
        ...gitTimeAttrs(local, head),
        ["narHash", narHash.toSRI()],
        ["rev", "0".repeat(40)],
        ["revCount", 0],
        ["shortRev", "0".repeat(7)],
        ["submodules", a.submodules],
      ]);
    }
  }
  const fetchEnv = gitFetchEnv(glue);
  const { cache, rev } = fetchRev(a.url, a.ref, a.rev, a.allRefs, fetchEnv);
  const out = mkdtempSync(join(fetchCacheDir(), "gitout-"));
  try {
    exportTree(cache, rev, join(out, "tree"), out);
    if (a.submodules) exportSubmodules(cache, rev, join(out, "tree"), a.url, out, fetchEnv);
    const tree = treeToNode(hostTree, join(out, "tree"));
    const narHash = hashBytes("sha256", narFromTree(tree));
    if (a.narHash && !a.narHash.equals(narHash)) throw new EvalError(`NAR hash mismatch in input '${a.url}', expected '${a.narHash.toSRI()}' but got '${narHash.toSRI()}'`, pos);
    const path = addFetched(glue, a.name, tree, false, narHash);
    const revCount = a.shallow ? 0 : Number(git(["rev-list", "--count", rev!], cache).trim());
    return NixAttrs.from([
      ["outPath", storePathString(path)],
      ["rev", rev!],
      ["shortRev", rev!.slice(0, 7)],
      ...gitTimeAttrs(cache, rev!),
      ["narHash", narHash.toSRI()],
      ["revCount", revCount],
      ["submodules", a.submodules],
    ]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** git's own limit for a fetch over http(s) that stalls: stalled-download-timeout (curl's low-speed limit, as for other downloads). */
function gitFetchEnv(glue: Glue): NodeJS.ProcessEnv {
  const t = glue.stalledDownloadTimeout ?? 300;
  return t > 0 ? { GIT_HTTP_LOW_SPEED_LIMIT: "1", GIT_HTTP_LOW_SPEED_TIME: String(t) } : {};
}

/** Fetches a URL's ref (or a commit) into a bare cache repository per URL. */
function fetchRev(url: string, ref: string | undefined, wantRev: string | undefined, allRefs: boolean, fetchEnv: NodeJS.ProcessEnv): { cache: string; rev: string } {
  const cache = join(fetchCacheDir(), "git", createHash("sha256").update(url).digest("hex").slice(0, 40));
  if (!existsSync(join(cache, "HEAD"))) {
    mkdirs(cache);
    git(["init", "--bare", "-q", cache]);
  }
  let rev = wantRev;
  const have =
    rev !== undefined &&
    (() => {
      try {
        git(["cat-file", "-e", `${rev}^{commit}`], cache);
        return true;
      } catch (e) {
        passFatal(e);
        return false;
      }
    })();
  if (!have) {
    const r = ref ?? "HEAD";
    const fullRef = r === "HEAD" || r.startsWith("refs/") ? r : `refs/heads/${r}`;
    if (rev !== undefined || allRefs) git(["fetch", "-q", "--force", url, "+refs/*:refs/*", "+HEAD:refs/tvix/HEAD"], cache, fetchEnv);
    else git(["fetch", "-q", "--force", url, `+${fullRef}:refs/tvix/fetched`], cache, fetchEnv);
    if (rev === undefined) rev = git(["rev-parse", allRefs ? fullRef.replace(/^HEAD$/, "refs/tvix/HEAD") : "refs/tvix/fetched"], cache).trim();
  }
  return { cache, rev: rev! };
}

/** Writes a commit's tree (without .git) to dir, through a private index. */
function exportTree(cache: string, rev: string, dir: string, scratch: string): void {
  const index = join(scratch, `.index-${createHash("sha256").update(dir).digest("hex").slice(0, 8)}`);
  git(["read-tree", rev], cache, { GIT_INDEX_FILE: index });
  mkdirs(dir);
  git(["--git-dir", cache, "--work-tree", dir, "checkout-index", "-a", "-f"], cache, { GIT_INDEX_FILE: index });
  rmSync(index, { force: true });
}

/** Checks out the submodules of a commit (recursively) into its exported tree. */
function exportSubmodules(cache: string, rev: string, dir: string, url: string, scratch: string, fetchEnv: NodeJS.ProcessEnv): void {
  let modules: string;
  try {
    modules = git(["show", `${rev}:.gitmodules`], cache);
  } catch (e) {
    passFatal(e);
    return; // no submodules
  }
  const cfg = join(scratch, ".gitmodules-" + createHash("sha256").update(dir).digest("hex").slice(0, 8));
  writeFileSync(cfg, modules);
  const entries = new Map<string, { path?: string; url?: string }>();
  for (const line of git(["config", "-f", cfg, "--get-regexp", "^submodule\\..*\\.(path|url)$"]).split("\n")) {
    const m = /^submodule\.(.*)\.(path|url) (.*)$/.exec(line);
    if (!m) continue;
    const e = entries.get(m[1]) ?? {};
    e[m[2] as "path" | "url"] = m[3];
    entries.set(m[1], e);
  }
  for (const { path, url: subUrl } of entries.values()) {
    if (!path || !subUrl) continue;
    const line = git(["ls-tree", rev, "--", path], cache).trim();
    const m = /^160000 commit ([0-9a-f]{40})\t/.exec(line);
    if (!m) continue; // not a gitlink at this commit
    const resolved = subUrl.startsWith("./") || subUrl.startsWith("../") ? resolveRelativeUrl(url, subUrl) : subUrl;
    const sub = fetchRev(resolved, undefined, m[1], false, fetchEnv);
    exportTree(sub.cache, sub.rev, join(dir, path), scratch);
    exportSubmodules(sub.cache, sub.rev, join(dir, path), resolved, scratch, fetchEnv);
  }
}

/** A submodule URL relative to its superproject's URL (a path or file:// URL). */
function resolveRelativeUrl(base: string, rel: string): string {
  const file = base.startsWith("file://");
  const p = file ? base.slice(7) : base;
  const out = canonPath(`${p.replace(/\/+$/, "")}/${rel}`);
  return file ? `file://${out}` : out;
}

export function fetcherBuiltins(glue: Glue): BuiltinExtension {
  return {
    register(def) {
      def("fetchurl", 1, ([a], pos, state) => storePathString(fetchUrlLike(glue, state, fetchArgs(state, a, "fetchurl", pos), false, pos).path));
      def("fetchTarball", 1, ([a], pos, state) => storePathString(fetchUrlLike(glue, state, fetchArgs(state, a, "fetchTarball", pos), true, pos).path));
      def("fetchGit", 1, ([a], pos, state) => fetchGit(glue, gitArgs(state, a, pos), pos));
      def("fetchTree", 1, ([a], pos, state) => {
        const attrs = forceAttrs(a, pos);
        const t = attrs.get("type");
        if (t === undefined) throw new EvalError("attribute 'type' is missing in call to 'fetchTree'", pos);
        const type = forceString(t, pos);
        const rest = new Map(attrs.map);
        rest.delete("type");
        const args = NixAttrs.fromMap(rest);
        switch (type) {
          case "git":
            return fetchGit(glue, gitArgs(state, args, pos), pos);
          case "file":
          case "tarball": {
            const fa: FetchArgs = { url: forceString(attrs.get("url") ?? "", pos), name: attrs.get("name") !== undefined ? forceString(attrs.get("name")!, pos) : undefined };
            const nh = attrs.get("narHash");
            if (nh !== undefined && type === "tarball") fa.sha256 = Hash.parse(forceString(nh, pos));
            const r = fetchUrlLike(glue, state, { ...fa, name: fa.name ?? "source" }, type === "tarball", pos);
            return NixAttrs.from([["outPath", storePathString(r.path)], ["narHash", r.narHash.toSRI()]]);
          }
          case "path": {
            const p = attrs.get("path");
            if (p === undefined) throw new EvalError("attribute 'path' is missing in call to 'fetchTree'", pos);
            const path = state.importPath(forceString(p, pos), { name: "source" }, pos);
            return NixAttrs.from([["outPath", storePathString(path)]]);
          }
          default:
            throw new EvalError(`not implemented: fetchTree type '${type}' (supported: file, tarball, git, path)`, pos);
        }
      });
    },
  };
}
