#!/usr/bin/env bash
# Validates the manifests under k8s/ against the Kubernetes OpenAPI schemas shipped by the npm
# package kubernetes-models (a devDependency, installed here if missing) and checks how they fit
# together and with platform/config.ts: see scripts/validate-k8s.ts. No cluster, no download of schemas.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

if [ ! -d node_modules/kubernetes-models ] || [ ! -d node_modules/yaml ] || [ ! -d node_modules/zod ]; then
  echo "validate-k8s: installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

node scripts/validate-k8s.ts k8s
