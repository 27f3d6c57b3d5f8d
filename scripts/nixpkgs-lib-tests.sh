#!/usr/bin/env bash
# Runs nixpkgs' lib/tests/modules.sh with dist/tvix as nix-instantiate (first
# on PATH), as the evaluator issue asks. Takes minutes; not part of npm test.
#   scripts/nixpkgs-lib-tests.sh [NIXPKGS_LIB_DIR]   (default ../shared/corpora/nixpkgs-lib/lib)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lib="${1:-$root/../shared/corpora/nixpkgs-lib/lib}"
[ -x "$root/dist/tvix" ] || { echo "build first: node build.mjs" >&2; exit 1; }
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
# a copy, not a symlink: a rebuild during the run must not swap the binary
cp "$root/dist/tvix" "$bin/nix-instantiate"
cd "$lib/tests"
PATH="$bin:$PATH" bash modules.sh
