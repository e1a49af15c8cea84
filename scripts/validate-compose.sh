#!/usr/bin/env bash
# Validates docker-compose.yml with a real Compose implementation (no Docker engine needed):
#   1. `docker compose config -q` (Compose v2 plugin) or `docker-compose config -q` (Debian's
#      docker-compose, installed with apt-get when neither is present): schema, types, references;
#   2. scripts/check-compose.ts on the resolved model: consistency with platform/config.ts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "validate-compose: installing Debian's docker-compose"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  log="$(mktemp)"
  if ! { "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
      apt-get install -y -qq --no-install-recommends docker-compose; } >"$log" 2>&1 </dev/null; then
    cat "$log" >&2
    echo "validate-compose: could not install docker-compose" >&2
    exit 1
  fi
  rm -f "$log"
  compose=(docker-compose)
fi

echo "validate-compose: $("${compose[@]}" version --short 2>/dev/null || "${compose[@]}" version | head -n 1)"
"${compose[@]}" -f docker-compose.yml config -q
"${compose[@]}" -f docker-compose.yml config | node scripts/check-compose.ts
echo "validate-compose: docker-compose.yml is valid"
