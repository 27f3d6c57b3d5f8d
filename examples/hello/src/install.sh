#!/bin/sh
# Substitutes the configured values and installs hello under $prefix.
set -e
. ./config.mk
mkdir -p "$prefix/bin" "$prefix/share/man/man1" "$prefix/share/doc/hello"
sed -f config.sed hello.in > "$prefix/bin/hello"
chmod 755 "$prefix/bin/hello"
sed -f config.sed hello.1.in | gzip -c > "$prefix/share/man/man1/hello.1.gz"
cp VERSION "$prefix/share/doc/hello/VERSION"
