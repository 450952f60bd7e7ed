# hubspoke: the entry points. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help
HUBSPOKE := cargo run --quiet --locked -p hubspoke --
ENV ?= sim

.PHONY: help up down status test e2e-kind e2e-eks validate lint

help: ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## bring up the environment ENV (sim, kind, existing; default sim: serves in the foreground)
	$(HUBSPOKE) up --env $(ENV)

down: ## tear down the environment ENV
	$(HUBSPOKE) down --env $(ENV)

status: ## show the clusters and Argo CD Applications of ENV
	$(HUBSPOKE) status --env $(ENV)

test: ## run every test on the embedded sim environment (what CI runs)
	cargo nextest run --workspace --profile ci

e2e-kind: ## run the tests against kind clusters (brought up or reused by the kind profile)
	cargo nextest run --workspace --profile kind

e2e-eks: ## run the tests against the EKS hub and spoke (the eks profile brings them up)
	cargo nextest run --workspace --profile eks

validate: ## check cluster definitions and manifests under release/, fixtures/, kind/
	$(HUBSPOKE) validate

lint: ## format check, clippy, and actionlint on the workflows
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	.ci/actionlint
