# An offline package set: everything is built from Debian's static bash and
# busybox (see bootstrap.nix), so it builds without a network, with
# nix-build and with tvix:
#
#   nix-build -A hello      tvix build -A hello
#
# (Both need /bin/bash-static and /bin/busybox: apt-get install bash-static busybox-static.)
# `salt` (for benchmarks) makes the graph and `trivial` fresh derivations.
{ system ? builtins.currentSystem, salt ? "" }:
let
  boot = import ./bootstrap.nix { inherit system; };
  hello = import ./hello { inherit boot; };
  graph = import ./graph.nix { inherit boot salt; };
in {
  inherit (boot) tools;
  inherit (hello) hello;
  hello-src = hello.src;
  inherit (graph) graph;
  graphNodes = graph.nodes;
  probes = import ./probes.nix { inherit boot; };
  # the smallest build: what a sandbox costs
  trivial = boot.mkDerivation { name = "trivial"; inherit salt; buildCommand = "echo $salt > $out"; };
}
