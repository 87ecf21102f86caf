# Two commands for a fresh machine: `make run` (the small Test13 experiment) and `make test`.
# Each creates the virtual environment .venv on first use (CPU JAX; see BUILD.md for GPU/TPU).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export RCL_DATA_DIR ?= $(abspath ../shared/data)

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install run test bench pretrained
install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/python -m experiments.run --flagfile=experiments/test13_small.flags

# Two pytest workers (CI has 2 cores); a test file stays on one worker so its fixtures are built once.
test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(BIN)/.installed
	$(BIN)/python -m experiments.bench

# The bundle shipped in the package (rcl/pretrained/test13_small): the small profile's best model by
# validation accuracy, LD(A)+LD(E), exported from the workdir `make run` writes.
pretrained: $(BIN)/.installed
	rm -rf rcl/pretrained/test13_small
	$(BIN)/python -m rcl.cli export --workdir=runs/test13_small --model='LD(A)+LD(E)' --out=rcl/pretrained/test13_small
