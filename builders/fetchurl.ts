// `builtin:fetchurl`: derivations Nix fetches itself, without a sandbox
// (`import <nix/fetchurl.nix>`). The request's environment carries `url`,
// `executable` and `unpack`; the download becomes the single output, which
// realise.ts then checks against the fixed output hash like any other.
// http(s) and file URLs are supported.
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { CastoreServices } from "../stores/nar-bridge";
import { BuildError, type BuildEvents, type BuildLimits, type BuildRequest, type BuildResult, type BuildService } from "./build-request";
import { collectOutputs } from "./outputs";
import { defaultBuildTmp, removeTreeLater } from "./sandbox";
import { parseNarToTree, type NarNode } from "../core/nar";
import { concatBytes } from "../core/bytes";
import { DownloadFailure, downloadFailure, startDownload, withDownloadRetries } from "../stores/http";

export class FetchurlBuildService implements BuildService {
  readonly name = "builtin";
  readonly systemFeatures: readonly string[] = [];
  readonly systems: readonly string[] = ["builtin"];

  constructor(private readonly services: CastoreServices, private readonly tmpDir = defaultBuildTmp()) {}

  async build(req: BuildRequest, events: BuildEvents = {}, limits: BuildLimits = {}): Promise<BuildResult> {
    if (req.command[0] !== "builtin:fetchurl") throw new BuildError(`unsupported builtin builder '${req.command[0]}'`, "sandbox");
    if (req.outputs.length !== 1) throw new BuildError("builtin:fetchurl needs exactly one output", "sandbox");
    if (!req.constraints.networkAccess) throw new BuildError("builtin:fetchurl is only allowed for fixed-output derivations", "sandbox");
    const env = new Map(req.env);
    const url = env.get("url");
    if (!url) throw new BuildError("attribute 'url' missing (builtin:fetchurl)", "transient");
    mkdirSync(this.tmpDir, { recursive: true });
    const dir = mkdtempSync(join(this.tmpDir, "fetchurl-"));
    const out = req.outputs[0];
    const host = join(dir, out.slice(out.lastIndexOf("/") + 1));
    const log = (s: string) => events.onLog?.(new TextEncoder().encode(s));
    try {
      log(`downloading '${url}'...\n`);
      const data = await download(url, limits, (text) => log(`warning: ${text}\n`));
      if (env.get("unpack") === "1") writeNarTree(await parseNarToTree(data), host);
      else {
        await pipeline(Readable.from([data]), createWriteStream(host, { mode: 0o644 }));
        if (env.get("executable") === "1") chmodSync(host, 0o755);
      }
      const outputs = await collectOutputs(req, () => host, this.services);
      return { outputs, release: async () => removeTreeLater(dir) };
    } catch (e) {
      removeTreeLater(dir);
      if (e instanceof BuildError) throw e;
      if (e instanceof DownloadFailure) throw new BuildError(e.message, "transient");
      throw new BuildError(`unable to download '${url}': ${(e as Error).message}`, "transient");
    }
  }
}

async function download(url: string, limits: BuildLimits, warn: (text: string) => void): Promise<Uint8Array> {
  if (url.startsWith("file://")) return readFileSync(fileURLToPath(url));
  if (!/^https?:\/\//.test(url)) throw new BuildError(`not implemented: builtin:fetchurl of '${url}' (only http, https and file URLs)`, "transient");
  const signals = [limits.signal, limits.timeout ? AbortSignal.timeout(limits.timeout * 1000) : undefined].filter((s): s is AbortSignal => !!s);
  const signal = signals.length ? AbortSignal.any(signals) : undefined;
  // the configured connect-timeout, stalled-download-timeout and download-attempts apply (stores/http.ts)
  return withDownloadRetries(() => downloadOnce(url, signal), { signal, warn });
}

async function downloadOnce(url: string, signal?: AbortSignal): Promise<Uint8Array> {
  const res = await startDownload(url, signal);
  try {
    const parts: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const p of res.body) {
        signal?.throwIfAborted();
        parts.push(p);
        size += p.length;
      }
    } catch (e) {
      signal?.throwIfAborted();
      throw downloadFailure(url, e);
    }
    signal?.throwIfAborted();
    return concatBytes(parts, size);
  } finally {
    res.cancel();
  }
}

function writeNarTree(n: NarNode, path: string): void {
  if (n.type === "symlink") symlinkSync(n.target, path);
  else if (n.type === "regular") writeFileSync(path, n.contents, { mode: n.executable ? 0o755 : 0o644 });
  else {
    mkdirSync(path);
    for (const [name, child] of n.entries) writeNarTree(child, join(path, name));
  }
}
