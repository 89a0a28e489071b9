# kit — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test fetch bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

install: $(STAMP)

demo: install  ## the main job on the embedded data: 5-fold CV of the demo recipe
	$(BIN)/kit demo-data --dest data/demo
	$(BIN)/kit cv demo --data data/demo

test: install
	$(BIN)/pytest

clean:
	rm -rf runs data/demo .pytest_cache
