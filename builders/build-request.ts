// The build interface (after Tvix's build crate): a BuildRequest says what to
// run, with which inputs, and which paths it must produce; a BuildService
// runs it in some sandbox and returns the produced trees as castore nodes.
// Nothing here knows about derivations: glue/build-request.ts translates a
// derivation into a request, and builders/realise.ts turns results back into
// store paths.
import type { CastoreNode } from "../stores/types";

/** An input: a store path's basename and its castore root node. */
export interface BuildInput {
  /** "<hash>-<name>": mounted at `${inputsDir}/${name}`. */
  name: string;
  node: CastoreNode;
}

/** A file written into the sandbox before the build (passAsFile, structured attrs, reference graphs). */
export interface AdditionalFile {
  /** Absolute path inside the sandbox; must lie in a scratch path. */
  path: string;
  contents: Uint8Array;
  /** Who owns it inside the sandbox: the build user, or root (Nix writes reference graphs as root). */
  owner: "builder" | "root";
}

export interface BuildConstraints {
  /** The platform the command needs ("x86_64-linux"). */
  system: string;
  /** Host network and resolver (fixed-output builds only); otherwise loopback alone. */
  networkAccess: boolean;
  /** `requiredSystemFeatures`: each must be one the builder offers. */
  requiredFeatures: string[];
  /** Extra read-only paths from the host: [host path, path inside the sandbox] (sandbox-paths). */
  availableRoPaths: [string, string][];
}

export interface BuildRequest {
  /** argv; the first element is an absolute path inside the sandbox. */
  command: string[];
  /** Absolute, inside the sandbox; one of the scratch paths. */
  workingDir: string;
  /** Environment, exactly (nothing is added by the sandbox), sorted by name. */
  env: [string, string][];
  inputs: BuildInput[];
  /** Where inputs appear, e.g. "/nix/store". */
  inputsDir: string;
  /** Absolute paths the command must create (each directly inside inputsDir). */
  outputs: string[];
  /** Writable directories that start empty ("/build", "/nix/store", "/tmp"). */
  scratchPaths: string[];
  additionalFiles: AdditionalFile[];
  constraints: BuildConstraints;
  /** Strings (nixbase32 hash parts) whose occurrences in the outputs are reported. */
  refscanNeedles: string[];
}

/** One produced output: its tree in castore and which needles it contains. */
export interface BuildOutput {
  /** The root node, named by the output's basename. */
  node: CastoreNode;
  /** Indices into the request's refscanNeedles. */
  needles: number[];
  narHash: string;
  narSize: number;
  /**
   * The canonicalised tree on the host (read-only, mtime 1), until the
   * build's scratch space is released: callers may move it into place
   * instead of materialising it again from castore.
   */
  hostPath: string;
}

export interface BuildResult {
  outputs: BuildOutput[];
  /** Releases the scratch space (and every hostPath not moved away). */
  release(): Promise<void>;
}

/** Log lines and the like while a build runs. */
export interface BuildEvents {
  /** Raw bytes the command wrote to stdout/stderr. */
  onLog?(chunk: Uint8Array): void;
}

export interface BuildLimits {
  /** Kill the build after this many seconds (0: no limit). */
  timeout?: number;
  /** Kill the build after this many seconds without output (0: no limit). */
  maxSilentTime?: number;
  /** Keep the scratch directory of a failed build (its path is reported in the error). */
  keepFailed?: boolean;
  signal?: AbortSignal;
}

export interface BuildService {
  readonly name: string;
  /** Features this builder offers (requiredFeatures must be among them). */
  readonly systemFeatures: readonly string[];
  /** Platforms it builds for. */
  readonly systems: readonly string[];
  build(req: BuildRequest, events?: BuildEvents, limits?: BuildLimits): Promise<BuildResult>;
}

/**
 * Why a build did not produce its outputs. `kind` picks Nix's exit status:
 * failed (the builder exited non-zero: a permanent failure), transient (a
 * fixed-output builder failed), timeout/silent (--timeout,
 * --max-silent-time), hash-mismatch, check-mismatch, rejected (outputs
 * missing or refused by a check), sandbox (the sandbox could not be set up),
 * dependency, interrupted.
 */
export type BuildErrorKind =
  | "failed"
  | "transient"
  | "timeout"
  | "silent"
  | "hash-mismatch"
  | "check-mismatch"
  | "rejected"
  | "sandbox"
  | "dependency"
  | "interrupted";

export class BuildError extends Error {
  constructor(
    message: string,
    readonly kind: BuildErrorKind = "rejected",
  ) {
    super(message);
    this.name = "BuildError";
  }
}

/** Checks a request for things no sandbox can satisfy; throws a clear error. */
export function validateRequest(req: BuildRequest, service: Pick<BuildService, "systemFeatures" | "systems">): void {
  const abs = (p: string, what: string) => {
    if (!p.startsWith("/") || p.split("/").some((c) => c === "..")) throw new BuildError(`${what} '${p}' must be an absolute path without '..'`, "sandbox");
  };
  if (req.command.length === 0) throw new BuildError("the build command is empty", "sandbox");
  abs(req.workingDir, "working directory");
  abs(req.inputsDir, "inputs directory");
  for (const s of req.scratchPaths) abs(s, "scratch path");
  const inScratch = (p: string) => req.scratchPaths.some((s) => p === s || p.startsWith(s + "/"));
  if (!req.scratchPaths.includes(req.inputsDir)) throw new BuildError(`the inputs directory '${req.inputsDir}' must be a scratch path (outputs are made there)`, "sandbox");
  if (!inScratch(req.workingDir)) throw new BuildError(`working directory '${req.workingDir}' is not a scratch path`, "sandbox");
  for (const o of req.outputs) {
    abs(o, "output");
    if (o.slice(0, o.lastIndexOf("/")) !== req.inputsDir) throw new BuildError(`output '${o}' is not directly inside '${req.inputsDir}'`, "sandbox");
  }
  for (const f of req.additionalFiles) {
    abs(f.path, "additional file");
    if (!inScratch(f.path)) throw new BuildError(`additional file '${f.path}' is not inside a scratch path`, "sandbox");
  }
  for (const i of req.inputs) if (i.name.includes("/") || i.name.startsWith(".")) throw new BuildError(`bad input name '${i.name}'`, "sandbox");
  if (!service.systems.includes(req.constraints.system))
    throw new BuildError(`a '${req.constraints.system}' build is required, but this builder only builds ${service.systems.map((s) => `'${s}'`).join(", ")}`, "sandbox");
  const missing = req.constraints.requiredFeatures.filter((f) => !service.systemFeatures.includes(f));
  if (missing.length > 0)
    throw new BuildError(`required system features ${missing.map((f) => `'${f}'`).join(", ")} are not offered by this builder (it offers ${service.systemFeatures.map((f) => `'${f}'`).join(", ") || "none"})`, "sandbox");
}
