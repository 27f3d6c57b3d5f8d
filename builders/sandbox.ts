// What every sandbox-backed BuildService shares: validating the request,
// materialising inputs, laying out the file system (sandbox-layout.ts),
// running the sandbox (the part each backend provides), collecting outputs
// (outputs.ts), and releasing the scratch space.
import { accessSync, constants, rmSync, chmodSync, readdirSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import type { CastoreServices } from "../stores/nar-bridge";
import { BuildError, validateRequest, type BuildEvents, type BuildInput, type BuildLimits, type BuildRequest, type BuildResult, type BuildService } from "./build-request";
import { hostBuildIds, prepareLayout, sandboxDevices, type BuildIds, type Layout } from "./sandbox-layout";
import { collectOutputs } from "./outputs";
import type { RunResult } from "./run-process";

export interface SandboxOptions {
  /** Where outputs are ingested. */
  services: CastoreServices;
  /** Makes an input's tree exist on the host (e.g. materialised under the real store directory); returns its path. */
  provideInput(input: BuildInput): Promise<string>;
  /** Parent of the per-build scratch directories (default: the OS temp directory). */
  tmpDir?: string;
  systems?: string[];
  systemFeatures?: string[];
  ids?: BuildIds;
}

/** This host's Nix system name. */
export function hostSystem(): string {
  const arch = process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch === "ia32" ? "i686" : process.arch;
  return `${arch}-${process.platform}`;
}

/**
 * Nix's default `system-features`: names nixpkgs uses to route builds, and
 * `kvm` where this user may open /dev/kvm (builds then see the device).
 */
export function defaultSystemFeatures(): string[] {
  const features = ["nixos-test", "benchmark", "big-parallel"];
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    features.push("kvm");
  } catch {
    // no KVM here
  }
  return features;
}

/** Where builds' scratch directories go by default: one directory per user under the OS temp directory. */
export function defaultBuildTmp(): string {
  return join(tmpdir(), `tvix-build-${process.getuid?.() ?? 0}`);
}

/** The absolute path of a program on our PATH (sandboxes run with the build's environment, not ours). */
export function findProgram(name: string): string {
  if (name.includes("/")) return name;
  for (const d of (process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    if (!d) continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  throw new BuildError(`${name} not found on PATH`, "sandbox");
}

const removals = new Set<Promise<void>>();

/**
 * Starts removing a build's scratch tree on libuv's threads (deleting
 * thousands of entries would hold up the next build); settleRemovals()
 * waits for every removal started.
 */
export function removeTreeLater(path: string): void {
  const p: Promise<void> = rm(path, { recursive: true, force: true })
    .catch(() => removeTree(path))
    .catch(() => {})
    .finally(() => removals.delete(p));
  removals.add(p);
}

export async function settleRemovals(): Promise<void> {
  while (removals.size > 0) await Promise.all([...removals]);
}

/** Removes a tree the build (or canonicalisation) may have left read-only. */
export function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
    return;
  } catch {}
  const loosen = (p: string) => {
    try {
      const st = lstatSync(p);
      if (!st.isDirectory()) return;
      chmodSync(p, 0o755);
      for (const n of readdirSync(p)) loosen(join(p, n));
    } catch {}
  };
  loosen(path);
  rmSync(path, { recursive: true, force: true });
}

export abstract class SandboxBuildService implements BuildService {
  abstract readonly name: string;
  readonly systems: readonly string[];
  readonly systemFeatures: readonly string[];
  /** The host devices bound into each build. */
  protected readonly devices: readonly string[];
  protected readonly ids: BuildIds;
  protected readonly tmpDir: string;
  /** The mode of the sandbox's root directory. */
  protected readonly rootMode: number = 0o750;

  constructor(protected readonly opts: SandboxOptions) {
    // as Nix: an x86_64 host also builds for i686
    this.systems = opts.systems ?? (hostSystem() === "x86_64-linux" ? ["x86_64-linux", "i686-linux"] : [hostSystem()]);
    this.systemFeatures = opts.systemFeatures ?? defaultSystemFeatures();
    this.devices = sandboxDevices(this.systemFeatures);
    this.ids = opts.ids ?? hostBuildIds();
    this.tmpDir = opts.tmpDir ?? defaultBuildTmp();
  }

  /** Runs the command of `req` in this sandbox over `layout`. */
  protected abstract run(layout: Layout, req: BuildRequest, events: BuildEvents, limits: BuildLimits): Promise<RunResult>;

  async build(req: BuildRequest, events: BuildEvents = {}, limits: BuildLimits = {}): Promise<BuildResult> {
    validateRequest(req, this);
    const inputPaths = new Map<string, string>();
    for (const input of req.inputs) inputPaths.set(input.name, await this.opts.provideInput(input));
    const first = req.outputs[0]?.slice(req.outputs[0].lastIndexOf("/") + 1) ?? "build";
    const t0 = Date.now();
    const layout = prepareLayout(req, inputPaths, this.tmpDir, this.ids, first, this.rootMode, this.devices);
    const t1 = Date.now();
    let keep = false;
    try {
      const r = await this.run(layout, req, events, limits);
      if (r.code !== 0) {
        keep = !!limits.keepFailed;
        const how = r.code === null ? `signal ${r.signal}` : `exit code ${r.code}`;
        throw new BuildError(`builder failed with ${how}${keep ? `; its scratch space is kept in '${layout.dir}'` : ""}`, "failed");
      }
      const t2 = Date.now();
      const outputs = await collectOutputs(req, layout.hostPath, this.opts.services);
      if (process.env.TVIX_PHASES === "build") process.stderr.write(`tvix: ${this.name}: layout ${t1 - t0} ms, run ${t2 - t1} ms, outputs ${Date.now() - t2} ms\n`);
      let released = false;
      return {
        outputs,
        release: async () => {
          if (released) return;
          released = true;
          removeTreeLater(layout.dir);
        },
      };
    } catch (e) {
      if (!keep) removeTreeLater(layout.dir);
      throw e;
    }
  }
}
