# The two commands a fresh machine needs: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format train benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[train,test,analysis,store]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/emostream demo

test: $(VENV)/.installed-test
	$(BIN)/ruff check stream train tests benchmarks
	$(BIN)/ruff format --check stream train tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -ra

lint: $(VENV)/.installed-test
	$(BIN)/ruff check --fix stream train tests benchmarks
	$(BIN)/ruff format stream train tests benchmarks

train: $(VENV)/.installed-test
	$(BIN)/python -m train all

benchmark: $(VENV)/.installed-test
	bash benchmarks/peers/fer_env.sh
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info
