# A graph of 60 small derivations in 10 layers of 6 (each node depends on
# three nodes of the layer before), and `graph`, which depends on the last
# layer: 61 derivations for the scheduler (`-j N`) and its benchmark.
# A non-empty `salt` gives every node a fresh derivation (bench/build.ts).
{ boot, width ? 6, depth ? 10, salt ? "" }:
let
  inherit (boot) mkDerivation;
  node = i:
    let
      layer = i / width;
      col = i - layer * width;
      prev = c: nodes.${toString ((layer - 1) * width + (if c >= width then c - width else c))};
      deps = if layer == 0 then [ ] else [ (prev col) (prev (col + 1)) (prev (col + 3)) ];
    in mkDerivation ({
      name = "node-${toString i}";
      inherit deps;
      buildCommand = ''
        mkdir -p $out/share
        for d in $deps; do cat $d/value; done > inputs
        echo ${toString i} >> inputs
        # a little work, so that parallel builds have something to overlap
        seq 1 2000 | sha256sum | cut -d' ' -f1 > $out/share/work
        sha256sum inputs | cut -d' ' -f1 > $out/value
        ${if deps == [ ] then "" else "ln -s ${builtins.head deps} $out/first-dep"}
      '';
    } // (if salt == "" then { } else { inherit salt; }));
  count = width * depth;
  nodes = builtins.listToAttrs (builtins.genList (i: { name = toString i; value = node i; }) count);
in {
  inherit nodes;
  graph = mkDerivation ({
    name = "graph";
    deps = builtins.genList (c: nodes.${toString ((depth - 1) * width + c)}) width;
    buildCommand = ''
      mkdir $out
      for d in $deps; do ln -s $d $out/; cat $d/value; done | sha256sum | cut -d' ' -f1 > $out/value
    '';
  } // (if salt == "" then { } else { inherit salt; }));
}
