# The two set-up commands of the README: `make demo` and `make test`. Both create .venv and
# install the project from the repository's own files (pinned by requirements/constraints.txt);
# `make test` also installs the system packages of the cluster tests (Slurm, munge; as root).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
# Rules and stages call `lsat`, `snakemake` calls `python`: all from the venv.
export PATH := $(abspath $(BIN)):$(PATH)
# As root the cluster tests can always start Slurm: make them fail rather than skip.
LSAT_REQUIRE_SLURM ?= $(if $(filter 0,$(shell id -u)),1,0)
export LSAT_REQUIRE_SLURM

space := $(subst ,, )
comma := ,

.PHONY: demo test lint format system-deps clean gpu-wheels

# uv installs the pinned set in about 15 s where pip takes about 95 s (benchmarks/RESULTS.md,
# "Install"). uv reads no pip configuration, so pip's find-links (a local wheel folder, e.g. a
# CPU-only torch) and CA bundle are passed on; if uv fails for any reason, pip installs instead.
# --compile-bytecode: pip writes .pyc files at install, uv does not; without them, where
# PYTHONDONTWRITEBYTECODE is set, every process of the pipeline compiles torch's modules again
# (benchmarks/RESULTS.md, "Bytecode at install").
PIP_CONF = $(PYTHON) -m pip config get global.$(1) 2>/dev/null
UV_LINKS = $(or $(PIP_FIND_LINKS),$(shell $(call PIP_CONF,find-links)))
UV_CERT = $(or $(PIP_CERT),$(shell $(call PIP_CONF,cert)))
# install EXTRAS: the project with those extras, at the pins of requirements/constraints.txt.
install = $(if $(UV_LINKS),UV_FIND_LINKS='$(subst $(space),$(comma),$(strip $(UV_LINKS)))') \
	$(if $(UV_CERT),SSL_CERT_FILE='$(UV_CERT)') $(BIN)/uv pip install -q --compile-bytecode \
	--python $(BIN)/python -c requirements/constraints.txt -e '.[$(1)]' \
	|| { echo 'uv failed: installing with pip' >&2; \
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[$(1)]'; }
# `make demo` needs the package and Snakemake only: the `pipeline` extra is 77 packages where
# `dev` (DVC, the Slurm executor, linters, pytest) is 165, 12 s less of a cold install
# (benchmarks/RESULTS.md, "Install: the demo's packages only"). `make test` adds the rest to
# the same venv.
$(DEMO_STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c requirements/constraints.txt uv
	$(call install,pipeline)
	touch $@

$(STAMP): $(DEMO_STAMP)
	$(call install,dev)
	touch $@

system-deps:
	scripts/install-system-deps.sh

# The whole demo: data, features, vocabulary, training, validation, test result file.
demo: $(DEMO_STAMP)
	$(BIN)/snakemake --workflow-profile workflow/profiles/default
	$(BIN)/lsat summary

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/mypy
	$(BIN)/snakemake --lint
	$(BIN)/lsat dvc-yaml --check

# Lint, unit tests, the demo DAG (Snakemake), DVC round trip, the Slurm run.
test: system-deps $(STAMP) lint
	$(BIN)/pytest -q

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt Snakefile workflow

# Wheels of what the lent GPU machines lack (Python 3.12, no registry there), for
# `LSAT_WHEELS=wheels/gpu benchmarks/gpu_check.sh`: jsonschema and its dependencies, at the
# pins of requirements/constraints.txt. Run where a registry is reachable; never committed.
GPU_WHEELS ?= wheels/gpu
GPU_WHEEL_PKGS := jsonschema jsonschema-specifications referencing rpds-py attrs typing-extensions
gpu-wheels:
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: -d $(GPU_WHEELS) \
		--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
		--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		$(foreach p,$(GPU_WHEEL_PKGS),$(shell grep -i '^$(subst -,[-_],$(p))==' requirements/constraints.txt))
	ls $(GPU_WHEELS)

clean:
	rm -rf results logs .snakemake report.html
