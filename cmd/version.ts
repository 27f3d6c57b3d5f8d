// The version string printed by `tvix --version`; also what builtins.nixVersion
// reports as our own version (nixVersion itself mimics the Nix we track).
export const TVIX_VERSION = "0.1.0";
export const NIX_COMPAT_VERSION = "2.26.3";
