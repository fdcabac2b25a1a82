# One entry point. `make train` and `make test` each set everything up first (a virtual
# environment in $(VENV) with the tested versions of constraints.txt); both are quick when
# the set-up is already done, because make only redoes a step whose inputs changed.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime
ARGS ?=
PYTEST_ARGS ?=

# The data set `make train` uses by default: Debian's dataset-fashion-mnist package, which
# works without any network once installed. Skipped when you point train.py elsewhere;
# where apt-get cannot be used, train.py falls back to tensorflow-datasets (needs network).
DEFAULT_DATA := /usr/share/datasets/fashion-mnist
NEEDS_DEFAULT_DATA := $(if $(KERAS_BNN_DATA_DIR)$(findstring --data_dir,$(ARGS))$(findstring --dataset,$(ARGS)),,$(DEFAULT_DATA))
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup train test test-unit docs docs-serve lock clean

setup: $(INSTALLED) $(RUNTIME)

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

# keras_bnn's x86 runtime (keras_bnn/runtime), compiled with gcc into keras_bnn's cache.
# Where it cannot be built, the note says why and LCE's interpreter runs the programs.
$(RUNTIME): $(INSTALLED) $(wildcard keras_bnn/runtime/native/*)
	@$(PY) -m keras_bnn.runtime build >/dev/null && touch $@ || true

$(DEFAULT_DATA):
	@echo "Installing Debian's dataset-fashion-mnist package (the default data of make train)"
	@{ command -v apt-get >/dev/null && $(SUDO) true 2>/dev/null \
	   && { $(SUDO) apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
	        || { $(SUDO) apt-get update -q >/dev/null 2>&1 \
	             && $(SUDO) apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }; }; } \
	  || echo "note: could not install it (needs apt-get and root); train.py will try \
	tensorflow-datasets, or give your own copy: make train ARGS=--data_dir=DIR"

train: $(INSTALLED) $(RUNTIME) $(NEEDS_DEFAULT_DATA)
	$(PY) train.py $(ARGS)

# The whole suite in two processes (pytest-xdist), each test module whole in one of them
# (its fixtures built once), in the order tests/conftest.py gives: longest first.
# `make test-unit` runs the unit tier only.
PYTEST := $(PY) -m pytest -n 2 --dist loadscope --no-loadscope-reorder

test: $(INSTALLED) $(RUNTIME)
	$(PYTEST) $(PYTEST_ARGS)

test-unit: $(INSTALLED) $(RUNTIME)
	$(PYTEST) -m unit $(PYTEST_ARGS)

# The docs site (docs/ and mkdocs.yml) into site/, in strict mode: a broken link, a missing
# page or a docstring griffe cannot read fails the build. `make docs-serve` serves it at
# http://127.0.0.1:8000 while you edit.
docs: $(INSTALLED)
	$(PY) -m mkdocs build --strict --site-dir site

docs-serve: $(INSTALLED)
	$(PY) -m mkdocs serve

# Re-record the tested versions after a deliberate upgrade (then run `make test`).
lock: $(INSTALLED)
	{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --exclude-editable \
	  | grep -vE "^(pip|setuptools|wheel)=="; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) build site *.egg-info
