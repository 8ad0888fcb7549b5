#!/usr/bin/env bash
# The Debian packages the test suite uses, installed with apt-get when their
# command is missing. A test whose tool is still missing skips with the reason,
# so a failed install is reported here, not fatal.
set -uo pipefail
declare -A package_of=(
  [nft]=nftables        # the simulation cuts an IDC off with nft
  [chromium]=chromium   # the demo's real-browser test (playwright-core drives it)
  [redis-server]=redis-server  # the change feed on Redis: tests start their own primary and replica
)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${package_of[$tool]}")
done
((${#missing[@]})) || exit 0
echo "test tools: installing ${missing[*]} with apt-get"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "test tools: could not install ${missing[*]}; the tests that need them skip"
fi
