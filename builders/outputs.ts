// What a sandbox does with a finished build's outputs, whatever the sandbox:
// canonicalise each tree as Nix does (owned by us, mtime 1, files 0444 or
// 0555, directories 0555, so no setuid/setgid or write bits survive; only
// directories, regular files and symlinks allowed), ingest it into castore
// (NAR hash and size on the way) and scan it for the request's needles.
import { chmodSync, lchownSync, lstatSync, lutimesSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ingestTree, type CastoreServices } from "../stores/nar-bridge";
import { BuildError, type BuildOutput, type BuildRequest } from "./build-request";
import { scanTree } from "./refscan";

/** Canonicalises a tree in place; throws a BuildError on a file type NARs cannot hold. */
export function canonicalise(path: string, uid: number, gid: number, chown: boolean): void {
  const st = lstatSync(path);
  if (chown && (st.uid !== uid || st.gid !== gid)) lchownSync(path, uid, gid);
  if (st.isSymbolicLink()) {
    lutimesSync(path, 1, 1);
    return;
  }
  if (st.isDirectory()) {
    // readable while we walk it, even when the build left it 0000
    if ((st.mode & 0o500) !== 0o500) chmodSync(path, 0o755);
    for (const name of readdirSync(path)) canonicalise(join(path, name), uid, gid, chown);
    chmodSync(path, 0o555);
    lutimesSync(path, 1, 1);
    return;
  }
  if (!st.isFile()) throw new BuildError(`file '${path}' has an unsupported type`);
  chmodSync(path, st.mode & 0o100 ? 0o555 : 0o444);
  lutimesSync(path, 1, 1);
}

/** Collects the outputs of a successful build from their host paths. */
export async function collectOutputs(req: BuildRequest, hostPathOf: (sandboxPath: string) => string, services: CastoreServices): Promise<BuildOutput[]> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const out: BuildOutput[] = [];
  for (const o of req.outputs) {
    const host = hostPathOf(o);
    try {
      lstatSync(host);
    } catch {
      throw new BuildError(`builder failed to produce output path '${o}'`);
    }
    canonicalise(host, uid, gid, uid === 0);
    const r = await ingestTree(services, host);
    const base = o.slice(o.lastIndexOf("/") + 1);
    out.push({
      node: { ...r.node, name: new TextEncoder().encode(base) },
      needles: scanTree(host, req.refscanNeedles),
      narHash: r.narHash.toString(),
      narSize: r.narSize,
      hostPath: host,
    });
  }
  return out;
}
