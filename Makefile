# The two set-up commands of the README: `make demo` and `make test`. Both create .venv and
# install the project from the repository's own files (pinned by requirements/constraints.txt);
# `make test` also installs the system packages of the cluster tests (Slurm, munge; as root).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Rules and stages call `lsat`, `snakemake` calls `python`: all from the venv.
export PATH := $(abspath $(BIN)):$(PATH)
# As root the cluster tests can always start Slurm: make them fail rather than skip.
LSAT_REQUIRE_SLURM ?= $(if $(filter 0,$(shell id -u)),1,0)
export LSAT_REQUIRE_SLURM

.PHONY: demo test lint format system-deps clean

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[dev]'
	touch $@

system-deps:
	scripts/install-system-deps.sh

# The whole demo: data, features, vocabulary, training, validation, test result file.
demo: $(STAMP)
	$(BIN)/snakemake --workflow-profile workflow/profiles/default
	$(BIN)/lsat summary

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint

# Lint, unit tests, the demo DAG (Snakemake), DVC round trip, the Slurm run.
test: system-deps $(STAMP) lint
	$(BIN)/pytest -q

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt Snakefile workflow

clean:
	rm -rf results logs .snakemake report.html
