#!/usr/bin/env bash
# `make build`: compile TypeScript into dist/ and copy beside it what the program reads at run
# time, so that dist/ alone runs (the image copies dist/src, dist/crds and dist/config):
#   dist/src/http/panel/   the events panel's page, script and stylesheet
#   dist/crds/             the CRDs (--install-crds)
#   dist/config/           tenant roles (--install-roles), webhook configurations, policies
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
npx tsc -p tsconfig.json
mkdir -p dist/src/http/panel dist/crds dist/config/rbac dist/config/webhook dist/config/policies
cp src/http/panel/* dist/src/http/panel/
cp crds/ovim.io_*.yaml crds/kustomization.yaml dist/crds/
cp config/rbac/tenant_roles.yaml dist/config/rbac/
cp config/webhook/webhooks.yaml dist/config/webhook/
cp config/policies/*.yaml dist/config/policies/
