# All set-up happens here: `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch is pinned here, not in pyproject: any other request pulls a
# multi-GB CUDA build, while 2.13.0 is the CPU build.
TORCH := torch==2.13.0
export HCDC_DATA ?= $(abspath datasets)

.PHONY: install test demo clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q

demo: install
	$(VENV)/bin/hcdc-graph train --dataset Cora

clean:
	rm -rf $(VENV) build *.egg-info
