# hello, built like an autotools package: a source tarball, unpacked,
# configured, installed, and checked.
{ boot }:
let
  inherit (boot) mkDerivation;
  version = "2.12.1";
in rec {
  src = mkDerivation {
    name = "hello-${version}.tar.gz";
    source = builtins.path { path = ./src; name = "hello-source"; };
    buildCommand = ''
      mkdir hello-${version}
      cp -r $source/. hello-${version}/
      # a reproducible tarball: sorted names, fixed times, numeric owners
      find hello-${version} -exec touch -h -d "1970-01-01 00:00:01" {} +
      tar -c --no-recursion --numeric-owner -f - $(find hello-${version} | sort) | gzip -c > $out
    '';
  };

  hello = mkDerivation {
    name = "hello-${version}";
    inherit src;
    greeting = "Hello, world!";
    buildCommand = ''
      tar -xzf $src
      cd hello-${version}
      sh ./configure --prefix=$out --greeting="$greeting"
      sh ./install.sh
      # check: the installed program runs and greets
      test "$($out/bin/hello)" = "$greeting"
      test "$($out/bin/hello -g hi)" = "hi"
    '';
  };
}
