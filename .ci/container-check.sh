#!/usr/bin/env bash
# A real container: builds the repository's Dockerfile, unchanged, from a
# local Node 24 base (no image registry is reachable from CI) and runs the
# image (.ci/container-check.mjs). Installs podman, runc and debootstrap
# with apt-get when they are missing. The base and podman's build layers are
# kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
missing=()
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "container check: installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc debootstrap >/dev/null
fi
export CONTAINERS_CONF=$PWD/.ci/containers.conf

base=$(bash .ci/container-base.sh)
echo "container check: base $base ($((SECONDS - start)) s)"
image=localhost/imgedge:ci-check
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The build stages are tagged too, so that the untagged images left by
# earlier builds can be pruned without losing the layer cache of this one.
# Docker format keeps the HEALTHCHECK (OCI images have no such field).
for target in build deps ""; do
  if ! podman build --format docker --network host --build-arg "BASE=$base" \
      ${target:+--target "$target"} --tag "$image${target:+-$target}" . >"$log" 2>&1; then
    tail -40 "$log"
    exit 1
  fi
done
podman image prune --force >/dev/null
echo "container check: built $image from the Dockerfile ($((SECONDS - start)) s)"
node .ci/container-check.mjs "$image"
echo "container check: passed in $((SECONDS - start)) s"
