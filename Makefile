# ovim-operator: `make run` starts the operator, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NPM_STAMP := node_modules/.package-lock.json

.PHONY: help deps build lint controlplane browser postgres test test-unit test-integration test-e2e soak run clean bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(NPM_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(NPM_STAMP) ## Install the Node.js dependencies (npm ci)

build: deps ## Compile TypeScript into dist/ with the files the program reads (dist/ runs alone: node dist/src/main.js)
	bash hack/build.sh

lint: deps ## Type-check and lint
	npx tsc -p tsconfig.json --noEmit
	npx eslint .

controlplane: ## Build (once, cached) etcd, kube-apiserver and kube-controller-manager
	@bash hack/controlplane/build.sh

browser: ## Install Debian's chromium for the panel's browser test when missing
	@bash hack/ensure-chromium.sh

postgres: ## Install Debian's postgresql for the archive's PostgreSQL tests when missing
	@bash hack/ensure-postgres.sh

test: deps controlplane browser postgres lint ## Run all tests (unit, integration and the fault-injection suite, against a real control plane)
	npm test

test-unit: deps postgres ## Unit tests only (no control plane; the archive suite runs a PostgreSQL server)
	npm run test:unit

test-integration: deps controlplane ## Integration tests only
	npm run test:integration

test-e2e: deps controlplane ## The fault-injection suite only (operator process, real control plane)
	npm run test:e2e

soak: deps controlplane ## The fault-injection suite at full size: storms of 20 organizations x 10 VDCs, 30 min of churn
	E2E_ORGS=20 E2E_VDCS=10 E2E_CHURN_SECONDS=1800 npm run test:e2e

run: deps controlplane ## Run the operator against the current kubeconfig, or a local sandbox control plane
	node --import tsx hack/run.ts

clean: ## Remove build output and the sandbox state
	rm -rf dist .ovim-sandbox
