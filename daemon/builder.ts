// What the daemon needs from a builder: realise a derivation's outputs into
// the store it serves and say how it went. BuildPaths, BuildPathsWithResults,
// BuildDerivation and EnsurePath (for a path only a build can produce) go
// through this; everything that needs no build (outputs already valid,
// paths a substituter has) is answered without it.
import type { BasicDerivation, BuildResult } from "../core/daemon-protocol";

export interface BuildLog {
  /** One line of the builder's output (without its newline). */
  line(text: string): void;
  /** A build phase starting ("unpackPhase", ...), when the builder knows. */
  phase?(name: string): void;
}

export interface BuildRequest {
  drvPath: string;
  /**
   * The derivation to build: read from the store for BuildPaths; as the
   * client sent it (without input derivations) for BuildDerivation.
   */
  drv: BasicDerivation;
  /** The outputs wanted (null: all). */
  outputs: string[] | null;
  /** 0 normal, 1 repair, 2 check (BuildMode). */
  mode: number;
  /** Build here, never on remote machines (BuildDerivation: a dispatcher chose this machine). */
  localOnly?: boolean;
  /** Aborted when the client hangs up: the builds stop. */
  signal?: AbortSignal;
  log: BuildLog;
}

export interface Builder {
  /**
   * Builds and registers the outputs in the served store (references
   * first: a build's inputs are valid before it starts). Failures are
   * reported in the result's status and errorMsg, not thrown.
   */
  build(req: BuildRequest): Promise<BuildResult>;
  /** Ends what the builder keeps open (when the daemon stops). */
  close?(): Promise<void>;
}

export class BuildNotImplemented extends Error {
  constructor() {
    super("not implemented: building in the daemon (no builder is connected to it yet)");
    this.name = "NotImplementedError";
  }
}

/** The builder used until one is wired in: every build is refused with a clear error. */
export const noBuilder: Builder = {
  async build(): Promise<BuildResult> {
    throw new BuildNotImplemented();
  },
};
