// The version tvix-ts reports as its own, and the Nix version it follows
// (builtins.nixVersion, `--version`'s "(Nix ...)").
export const TVIX_VERSION = "0.1.0";
export const NIX_COMPAT_VERSION = "2.26.3";
