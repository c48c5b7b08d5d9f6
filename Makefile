# Two entry points (see README.md):
#   make run   - install into .venv if needed, then run the whole workflow (default config)
#   make test  - install into .venv with test extras if needed, then run the test suite
# Both are idempotent: the install step reruns only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test install install-test lint figures clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" "setuptools>=77" wheel

# Stamp files record that the current pyproject.toml is installed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

# Redraw every figure and table from existing results: only plotting rules may run.
PLOT_RULES := plot_group_figures plot_class_auc plot_knapsack plot_da summary_table plot_training_curves plot_roc plot_jet_features plot_accuracy_vs_weight_bits
figures: install
	$(BIN)/snakemake --cores $(CORES) figures --allowed-rules $(PLOT_RULES) figures --forcerun $(PLOT_RULES) $(SNAKEMAKE_ARGS)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

clean-venv:
	rm -rf $(VENV)
