# ovim-operator: `make run` starts the operator, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NPM_STAMP := node_modules/.package-lock.json

.PHONY: help deps build lint controlplane browser postgres test test-unit test-integration run clean bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(NPM_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(NPM_STAMP) ## Install the Node.js dependencies (npm ci)

build: deps ## Compile TypeScript into dist/
	npx tsc -p tsconfig.json

lint: deps ## Type-check and lint
	npx tsc -p tsconfig.json --noEmit
	npx eslint .

controlplane: ## Build (once, cached) etcd, kube-apiserver and kube-controller-manager
	@bash hack/controlplane/build.sh

browser: ## Install Debian's chromium for the panel's browser test when missing
	@bash hack/ensure-chromium.sh

postgres: ## Install Debian's postgresql for the archive's PostgreSQL tests when missing
	@bash hack/ensure-postgres.sh

test: deps controlplane browser postgres lint ## Run all tests (unit and integration, against a real control plane)
	npm test

test-unit: deps postgres ## Unit tests only (no control plane; the archive suite runs a PostgreSQL server)
	npm run test:unit

test-integration: deps controlplane ## Integration tests only
	npm run test:integration

run: deps controlplane ## Run the operator against the current kubeconfig, or a local sandbox control plane
	node --import tsx hack/run.ts

clean: ## Remove build output and the sandbox state
	rm -rf dist .ovim-sandbox
