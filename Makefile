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
	$(PY) -m pip install --quiet -e '.[test,search,postgres,plot,nas]'
	touch $@

install: $(VENV)/.installed

# One worker per core (at most 4; each runs torch on one thread, see
# tests/conftest.py): the suite is CPU-bound, so 2 cores halve its time.
test: install
	$(PY) -m pytest -q -n auto --maxprocesses 4

# The main job: condense Cora with HCDC at 1.8 % and print benchmark v2's
# view of HCDC and Random on the same 80 filters under the paper's filter
# operator (no self-loops): Spearman, the data-free floor and what lies
# beyond it, regret, the bootstrap against Random, condensation time. The
# original-graph side is read from the committed ground truth; the first run
# condenses GCond's S_train (cached for later runs).
demo: install
	$(VENV)/bin/hcdc-graph benchmark --datasets Cora --ratios 0.018 \
		--methods random hcdc --seeds 1 --operators noloops --out build/demo \
		--ground-truth examples/results/benchmark_v2/ground_truth

clean:
	rm -rf $(VENV) build *.egg-info
