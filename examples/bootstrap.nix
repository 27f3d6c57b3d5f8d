# The bootstrap: Debian's static bash and busybox, imported from the host,
# and `tools`, a directory of busybox applet links. Busybox picks its applet
# from argv[0], and a store path's basename is "<hash>-busybox", so the first
# builder is bash, which can exec busybox under another name.
{ system ? builtins.currentSystem }:
rec {
  inherit system;

  bash = builtins.path { path = /bin/bash-static; name = "bash"; };
  busybox = builtins.path { path = /bin/busybox; name = "busybox"; };

  tools = derivation {
    name = "tools";
    inherit system;
    builder = bash;
    args = [ "-e" "-c" ''
      bb() { (exec -a "$1" ${busybox} "''${@:2}"); }
      bb mkdir -p $out/bin
      for applet in $(bb busybox --list); do
        bb ln -s ${busybox} $out/bin/$applet
      done
    '' ];
  };

  # A tiny stdenv: `buildCommand` runs in busybox sh with the tools on PATH.
  mkDerivation = { name, buildCommand, ... }@attrs:
    derivation (removeAttrs attrs [ "buildCommand" ] // {
      inherit name system;
      builder = "${tools}/bin/sh";
      args = [ "-e" "-c" buildCommand ];
      PATH = "${tools}/bin";
    });
}
