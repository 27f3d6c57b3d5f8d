// Every fuzz target, by name.
import type { Target } from "./engine";

/** Loads a target's module on demand (the daemon's pulls in much of the store). */
export const TARGETS: Record<string, () => Promise<Target>> = {
  parser: async () => (await import("./parser")).parserTarget,
  nar: async () => (await import("./nar")).narTarget,
  drv: async () => (await import("./drv")).drvTarget,
  narinfo: async () => (await import("./narinfo")).narinfoTarget,
  unpack: async () => (await import("./unpack")).unpackTarget,
  daemon: async () => (await import("./daemon")).daemonTarget,
};
