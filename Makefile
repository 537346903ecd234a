# The two commands of the README ("Two commands"):
#   make run    set up .venv and run the pipeline on the embedded synthetic dataset (CPU, minutes)
#   make test   set up .venv and run linters and the test suite (what CI runs)
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: setup run test lint

setup:
	bash scripts/setup.sh

run: setup
	$(BIN)/snakemake --cores $(CORES)

lint: setup
	$(BIN)/ruff check deblur tests bench
	$(BIN)/ruff format --check deblur tests bench
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint --cores 1

test: lint
	$(BIN)/python -m pytest -n 2 tests
