# Derivations that write what they see of their build environment to $out:
# built by nix-build and by tvix, their outputs must be byte-identical.
{ boot }:
let
  inherit (boot) mkDerivation tools bash busybox system;
in rec {
  # the environment variables, the user, /etc, the file system, the network
  sandbox = mkDerivation {
    name = "probe-sandbox";
    buildCommand = ''
      mkdir $out
      env | sort > $out/env
      id > $out/id
      for f in /etc/*; do echo "== $f"; cat $f; done > $out/etc
      ls -a / > $out/root
      ls -a /dev > $out/dev
      ls -a /nix/store > $out/store
      ls -a /build /tmp > $out/scratch
      hostname > $out/hostname
      cat /proc/sys/kernel/domainname > $out/domainname
      ip addr > $out/interfaces
      grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status > $out/status
      echo $$ > $out/pid
      cat /proc/self/cmdline | tr '\0' ' ' > $out/cmdline
      umask > $out/umask
      test -e /bin/sh && echo has-bin-sh > $out/bin-sh || echo no-bin-sh > $out/bin-sh
    '';
  };

  # the standard streams: stdin is /dev/null (runc relays stdio through
  # pipes, so there it is an empty pipe: a known difference)
  stdio = mkDerivation {
    name = "probe-stdio";
    buildCommand = ''
      mkdir $out
      readlink /proc/self/fd/0 > $out/stdin
      cat > $out/stdin-contents
    '';
  };

  # what a build may and may not do
  permissions = mkDerivation {
    name = "probe-permissions";
    buildCommand = ''
      mkdir $out
      try() { if ( eval "$1" ) 2>/dev/null; then echo "$1: yes"; else echo "$1: no"; fi; }
      {
        try 'echo x > /build/f'
        try 'echo x > /tmp/f'
        try 'echo x > /f'
        try 'echo x > /etc/f'
        try 'echo x > /nix/f'
        try 'echo x > ${tools}/f'
        try 'chmod u+s /build/f'
        try 'chmod g+s /build/f'
        try 'chmod 755 /build/f'
        try 'mkdir /build/d && chmod 2755 /build/d'
        try 'cat /etc/shadow'
        try 'ls /root'
        try 'kill -0 1'
        try 'test -w /proc/sys/kernel/hostname'
        try 'hostname foo'
        try 'mount -t tmpfs none /build/d'
        try 'wget -q -T 1 -O /dev/null http://192.0.2.1/'
        try 'nc -z -w 1 127.0.0.1 1'
      } > $out/results
    '';
  };

  passAsFile = mkDerivation {
    name = "probe-pass-as-file";
    passAsFile = [ "text" "empty" ];
    text = "some\ntext with 'quotes' and \"more\"\n";
    empty = "";
    exportReferencesGraph = [ "tools-graph" tools "bash-graph" bash ];
    buildCommand = ''
      mkdir $out
      env | grep -E '^(text|empty|exportReferencesGraph)' | sort > $out/env
      cat "$textPath" > $out/text
      cat "$emptyPath" > $out/empty
      ls -a /build > $out/build-files
      cat /build/tools-graph > $out/tools-graph
      cat /build/bash-graph > $out/bash-graph
    '';
  };

  structuredAttrs = derivation {
    name = "probe-structured-attrs";
    inherit system;
    builder = bash;
    __structuredAttrs = true;
    outputs = [ "out" "doc" ];
    args = [ "-e" "-c" ''
      source /build/.attrs.sh
      out=''${outputs[out]}; doc=''${outputs[doc]}
      export PATH=${tools}/bin
      mkdir $out $doc
      cp /build/.attrs.json $out/attrs.json
      cp /build/.attrs.sh $out/attrs.sh
      env | grep -v '^NIX_ATTRS_' | sort > $out/env
      echo "$name $count ''${list[1]} ''${set[b]}" > $doc/summary
    '' ];
    count = 5000000000;
    ratio = 1.5;
    yes = true;
    no = false;
    nothing = null;
    list = [ 1 "two" true ];
    set = { a = 1; b = "b'q"; };
    nested = { x = [ 1 ]; };
    text = "a b\n'c\"\t\\";
    unicode = "héllo ☃";
    exportReferencesGraph = { closure = [ tools ]; };
    outputChecks.doc.disallowedReferences = [ "out" ];
  };

  # outputs referring to each other and to themselves
  multipleOutputs = mkDerivation {
    name = "probe-multiple-outputs";
    outputs = [ "out" "dev" "lib" ];
    buildCommand = ''
      mkdir $out $dev $lib
      echo $lib > $out/lib-path
      echo $out > $dev/out-path
      echo $dev > $dev/self
      ln -s $lib $dev/lib
      echo plain > $lib/data
    '';
  };

  # a fixed-output derivation's view (network, /etc): built with a wrong
  # hash on purpose, the "got" hash of the error is compared
  fixedOutput = mkDerivation {
    name = "probe-fixed-output";
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = "0000000000000000000000000000000000000000000000000000";
    buildCommand = ''
      mkdir $out
      env | sort > $out/env
      ls -a /etc > $out/etc
      cat /etc/nsswitch.conf > $out/nsswitch
      hostname > $out/hostname
      ls -a / > $out/root
    '';
  };
}
