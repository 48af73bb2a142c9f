# ViT from Scratch: make setup | course | test | test-fast | lint | bench | gpu-check | reference
# | sessions
# Everything runs inside .venv (created on first use). Variables: PYTHON (the interpreter that
# creates the venv), PROFILE (auto|smoke|cpu|gpu) and DATASET (auto|cifar10|shapes) for `course`,
# REFERENCE (which reference models; default all) and BACKGROUND=1 (train detached) for `reference`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= auto
DATASET ?=
REFERENCE ?=
BACKGROUND ?=
STAMP := $(VENV)/.installed

.PHONY: setup course test test-fast lint bench gpu-check reference sessions clean distclean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { \
		echo "$(VENV) was made by Python $$($(PY) -c 'import platform; print(platform.python_version())'), but the course needs 3.10 or newer."; \
		echo "Remove it (make distclean) and run make setup again, with PYTHON=python3.11 if python3 is older."; \
		exit 1; }
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)"
	touch $(STAMP)

course: setup
	$(PY) -m course_lib.run --profile $(PROFILE) $(if $(DATASET),--dataset $(DATASET))

test: setup
	$(PY) -m pytest

# Everything but the notebook runs and the ImageNet-size models (the tests marked slow).
test-fast: setup
	$(PY) -m pytest -m "not slow"

lint: setup
	$(PY) -m ruff check course_lib tests notebooks
	$(PY) -m ruff format --check course_lib tests

bench: setup
	$(PY) -m course_lib.bench --out build/bench.json

# On a bare GPU machine (torch, torchvision and timm installed, no venv, no network): the system
# Python runs the check from this folder. DATA: the CIFAR-10 folder or its .tar.gz.
GPU_PYTHON ?= python3
DATA ?= $(firstword $(wildcard data/cifar10-jpeg.tar.gz ../shared/datasets/cifar10-jpeg.tar.gz) data)
gpu-check:
	$(GPU_PYTHON) -m course_lib.gpu_check --data $(DATA) --out build/gpu-check

reference: setup
	$(PY) -m course_lib.reference $(if $(BACKGROUND),--background) $(REFERENCE)

# The reading groups' session guides (docs/sessions/NN.md) from their templates and the notebooks.
sessions: setup
	$(PY) -m course_lib.sessions

clean:
	rm -rf build

# Also the virtual environment (for one made by the wrong interpreter, or a broken install).
distclean: clean
	rm -rf $(VENV)
