# One entry point for the README, developers and CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Django 6.1 (the manifest reference) needs Python 3.12; it gets a venv of its own.
PY312 ?= $(shell PYENV_VERSION=3.12.1 command -v python3.12 2>/dev/null || echo python3.12)
DJANGO61 := .venv-django61

.PHONY: install demo test lint check-schema schema bench bench-quick clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

$(DJANGO61)/bin/.installed:
	PYENV_VERSION=3.12.1 $(PY312) -m venv $(DJANGO61)
	$(DJANGO61)/bin/pip install -q --upgrade pip
	$(DJANGO61)/bin/pip install -q 'django==6.1.3' 'whitenoise==6.12.0'
	touch $@

demo: install
	$(BIN)/staticbuild apply --no-input

test: install $(DJANGO61)/bin/.installed lint check-schema
	$(BIN)/pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff check staticbuild tests benchmarks
	$(BIN)/mypy

schema: install
	$(BIN)/python -m staticbuild.schema > schema/staticbuild.schema.json

check-schema: install
	$(BIN)/python -m staticbuild.schema --check schema/staticbuild.schema.json

bench: install
	$(BIN)/python benchmarks/run.py

bench-quick: install
	$(BIN)/python benchmarks/run.py --quick

clean:
	rm -rf $(VENV) $(DJANGO61) build .staticbuild
