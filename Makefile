# kit — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_ARGS ?=

.PHONY: install demo demo-data test test-fast lint format fetch ensemble tune-demo bench auto-bench portfolio-bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

install: $(STAMP)

demo-data: install
	$(BIN)/kit demo-data --out data/demo

demo: demo-data  ## the main job on the embedded data: 5-fold CV of the demo recipe, its submission, scored locally
	$(BIN)/kit cv demo --data data/demo
	$(BIN)/kit predict runs/demo/demo --name demo --force
	$(BIN)/kit score submissions/demo.csv --data data/demo

test: install
	$(BIN)/pytest

test-fast: install  ## the tests that train no model and start no subprocess (under a minute)
	$(BIN)/pytest -m "not slow"

lint: install
	$(BIN)/ruff check kit tests examples
	$(BIN)/ruff format --check kit tests examples

format: install
	$(BIN)/ruff check --fix kit tests examples
	$(BIN)/ruff format kit tests examples

fetch: install  ## the Digit Recognizer files from Kaggle into data/digit-recognizer/ (needs Kaggle credentials)
	$(BIN)/kit fetch

ensemble: demo-data  ## two demo runs soft-voted into submissions/demo-ensemble.csv, and a report of the first
	$(BIN)/kit cv demo --data data/demo
	$(BIN)/kit cv demo-seed1 --data data/demo
	$(BIN)/kit predict runs/demo/demo runs/demo/demo-seed1 --name demo-ensemble --force
	$(BIN)/kit report runs/demo/demo

tune-demo: demo-data  ## a 4-trial KerasTuner search of the demo recipe, then CV of the recipe it writes
	$(BIN)/kit tune demo --data data/demo --max-trials 4
	$(BIN)/kit cv demo-tuned --data data/demo

bench: install  ## turbo against the notebook pipeline (3 seeds × 5 folds) and, on 42,000 rows, against fast; bench.json + bench.png
	$(BIN)/kit bench --full-size $(BENCH_ARGS)

auto-bench: demo-data  ## kit auto in 1, 5 and 15 minutes (and 5 → 15) against single runs and the notebook's 5-fold vote (~55 min)
	$(BIN)/python -c "from kit.benchmark import auto_bench; auto_bench('data/demo', out='auto-bench')"

portfolio-bench: demo-data  ## what each kit auto candidate adds to the vote of turbo + fast, per minute, on the demo digits and the shapes (~35 min)
	$(BIN)/kit demo-data --dataset shapes --out data/shapes
	$(BIN)/python -c "from kit.benchmark import member_gains; member_gains('data/demo', 'portfolio-bench/digits')"
	$(BIN)/python -c "from kit.benchmark import member_gains; member_gains('data/shapes', 'portfolio-bench/shapes')"

clean:
	rm -rf runs data/demo .pytest_cache
