# Two commands for a fresh machine: `make run` (the small Test13 experiment) and `make test`.
# Each creates the virtual environment .venv on first use. PLATFORM picks JAX's build: cpu (default),
# cuda12, cuda13 or tpu (`make install PLATFORM=cuda12`; BUILD.md, "GPU / TPU").
PYTHON ?= python3
VENV ?= .venv
PLATFORM ?= cpu
BIN := $(VENV)/bin
comma := ,
EXTRAS := test$(if $(filter-out cpu,$(PLATFORM)),$(comma)$(PLATFORM))

ifeq ($(filter $(PLATFORM),cpu cuda12 cuda13 tpu),)
$(error PLATFORM=$(PLATFORM): choose cpu, cuda12, cuda13 or tpu)
endif

$(BIN)/.installed-$(PLATFORM): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

.PHONY: install run test bench pretrained pretrained_rfam88
install: $(BIN)/.installed-$(PLATFORM)

run: $(BIN)/.installed-$(PLATFORM)
	$(BIN)/python -m experiments.run --flagfile=experiments/test13_small.flags

# Two pytest workers (CI has 2 cores); a test file stays on one worker so its fixtures are built once.
test: $(BIN)/.installed-$(PLATFORM)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(BIN)/.installed-$(PLATFORM)
	$(BIN)/python -m experiments.bench

# The bundles shipped in the package. rcl/pretrained/test13_small: the small profile's best model by
# validation accuracy, LD(A)+LD(E), exported from the workdir `make run` writes. rcl/pretrained/rfam88: the
# best model of `python -m experiments.run --flagfile=experiments/rfam88.flags` by validation accuracy
# averaged over its clean and flanked validation copies (`rcl export --model=best`).
pretrained: $(BIN)/.installed-$(PLATFORM)
	rm -rf rcl/pretrained/test13_small
	$(BIN)/python -m rcl.cli export --workdir=runs/test13_small --model='LD(A)+LD(E)' --out=rcl/pretrained/test13_small

pretrained_rfam88: $(BIN)/.installed-$(PLATFORM)
	rm -rf rcl/pretrained/rfam88
	$(BIN)/python -m rcl.cli export --workdir=runs/rfam88 --model=best --out=rcl/pretrained/rfam88
