# One entry point. `make train` and `make test` each set everything up first (a virtual
# environment in $(VENV) with the tested versions of constraints.txt); both are quick when
# the set-up is already done, because make only redoes a step whose inputs changed.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=

# The data set `make train` uses by default: Debian's dataset-fashion-mnist package, which
# works without any network once installed. Skipped when you point train.py elsewhere.
DEFAULT_DATA := /usr/share/datasets/fashion-mnist
NEEDS_DEFAULT_DATA := $(if $(KERAS_BNN_DATA_DIR)$(findstring --data_dir,$(ARGS)),,$(DEFAULT_DATA))

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup train test lock clean

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

$(DEFAULT_DATA):
	@echo "Installing Debian's dataset-fashion-mnist package (the default data of make train)"
	@apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null) \
	  || { echo "Could not install dataset-fashion-mnist (needs root and Debian's package \
	registry). Install it with 'sudo apt-get install dataset-fashion-mnist', or give your \
	own copy of the four Fashion-MNIST files: make train ARGS=--data_dir=DIR" >&2; exit 1; }

train: $(INSTALLED) $(NEEDS_DEFAULT_DATA)
	$(PY) train.py $(ARGS)

test: $(INSTALLED)
	$(PY) -m pytest $(PYTEST_ARGS)

# Re-record the tested versions after a deliberate upgrade (then run `make test`).
lock: $(INSTALLED)
	{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --exclude-editable \
	  | grep -vE "^(pip|setuptools|wheel)=="; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info
