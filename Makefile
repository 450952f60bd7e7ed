# hubspoke: the entry points. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help
HUBSPOKE := cargo run --quiet --locked -p hubspoke --
ENV ?= sim
# EKS through terraform/ (one workspace, so one state, per cluster). RUN_ID tags every
# resource; BACKEND_CONFIG names an S3 backend config file (-backend-config) for remote state.
TF := terraform -chdir=terraform
RUN_ID ?= manual-$(shell whoami | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '-')
BACKEND_CONFIG ?=
# AUTO_APPROVE=1 applies and destroys without asking (CI)
AUTO_APPROVE ?=
TF_APPROVE := $(if $(AUTO_APPROVE),-auto-approve -input=false)

.PHONY: help up down status test e2e-kind e2e-eks hub-aws spoke-aws destroy-hub-aws destroy-spoke-aws tf-init validate lint

help: ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

hub-aws: tf-init ## create or update the EKS hub (terraform workspace hub; AUTO_APPROVE=1 skips the prompt)
	$(TF) workspace select -or-create hub
	$(TF) apply $(TF_APPROVE) -var-file=variables/hub.tfvars -var run_id=$(RUN_ID)

spoke-aws: tf-init ## create or update the EKS spoke, trusted by the hub's Argo CD role (after hub-aws)
	$(TF) workspace select -or-create spoke
	$(TF) apply $(TF_APPROVE) -var-file=variables/spoke.tfvars -var run_id=$(RUN_ID)

destroy-hub-aws: tf-init ## destroy the EKS hub (workspace hub)
	$(TF) workspace select -or-create hub
	$(TF) destroy $(TF_APPROVE) -var-file=variables/hub.tfvars -var run_id=$(RUN_ID)

destroy-spoke-aws: tf-init ## destroy the EKS spoke (workspace spoke)
	$(TF) workspace select -or-create spoke
	$(TF) destroy $(TF_APPROVE) -var-file=variables/spoke.tfvars -var run_id=$(RUN_ID)

tf-init:
ifneq ($(BACKEND_CONFIG),)
	printf '# written by hubspoke (and `make tf-init`) when a -backend-config is given: the S3 backend it\n# completes. Removed again when none is given.\nterraform {\n  backend "s3" {}\n}\n' > terraform/backend_override.tf
	$(TF) init -input=false -backend-config=$(abspath $(BACKEND_CONFIG))
else
	rm -f terraform/backend_override.tf
	$(TF) init -input=false
endif

validate: ## check cluster definitions and manifests under release/, fixtures/, kind/
	$(HUBSPOKE) validate

lint: ## format check, clippy, and actionlint on the workflows
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	.ci/actionlint
