#!/bin/sh
# Put bubblewrap (the sandbox model code runs in) beside the virtualenv's Python when the system has none.
# Debian's package is fetched with `apt-get download` and unpacked without installing, so no root is needed.
set -e
dest=$(cd "$1" && pwd)
command -v bwrap >/dev/null 2>&1 && exit 0
[ -x "$dest/bwrap" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fetch() { apt-get download bubblewrap >/dev/null 2>&1; }
if command -v apt-get >/dev/null 2>&1; then
  if fetch || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1 && fetch; }; then
    dpkg-deb -x bubblewrap_*.deb unpacked
    cp unpacked/usr/bin/bwrap "$dest/bwrap"
    exit 0
  fi
fi
echo "undrift: bubblewrap is not installed and could not be fetched: install it (apt install bubblewrap," \
     "dnf install bubblewrap) to score code tasks, or run them with --allow-unsandboxed" >&2
