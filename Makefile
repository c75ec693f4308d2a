# ntk-notebooks: `make figures` and `make test` do all the set-up on a fresh machine.
SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed-stamp
NOTEBOOKS  := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NAMES      := $(basename $(notdir $(NOTEBOOKS)))
BUILD      := build
# Notebooks run from notebooks/, so `figures/` is given as an absolute path.
export NTKLIB_FIGURES ?= $(CURDIR)/figures
export MPLBACKEND := Agg
export NTKLIB_QUIET := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: all venv figures test lint unit unit-a unit-b unit-portable nbtest $(addprefix nbrun-,$(NAMES)) notebooks lab bench clean help book book-check mutants mutants-all $(addprefix figure-,$(NAMES))

all: figures

help:
	@echo "make figures    execute every notebook at paper scale (papermill, params/NAME.yml), write figures/"
	@echo "                (make figures DEVICE=cuda: the networks on a GPU; make -j2 figures: two at a time)"
	@echo "make test       unit tests of ntklib and every notebook at CI scale, run once (papermill),"
	@echo "                its verdict cells compared with the committed outputs (tests/nbcheck.py)"
	@echo "make lint       ruff check and ruff format --check (part of make test)"
	@echo "make unit-portable  the unit tests on another BLAS code path (no AVX-512, one thread)"
	@echo "make notebooks  re-execute the notebooks in place at CI scale to refresh their committed outputs"
	@echo "make mutants    each notebook at CI scale under each theory mutant its claim depends on"
	@echo "                (mutants/README.md) and a control; kill table in build/mutants/, fails when a"
	@echo "                claim does not kill its mutant (JOBS=2); make mutants-all: every pair"
	@echo "make bench      speed and memory benchmarks (not part of make test; make bench DEVICE=cuda on a GPU)"
	@echo "make lab        open JupyterLab on notebooks/"
	@echo "make book       build the course site build/book/html from the notebooks' committed outputs (offline)"
	@echo "make book-check open every page of the book in headless Chromium; screenshots in build/book-check/"
	@echo "make clean      remove build/ and the virtual environment"

# The virtual environment: created when missing, re-installed when pyproject.toml changes.  It is
# created without pip (ensurepip takes 6 s); the host's pip (--python, pip >= 22.3) installs torch
# (the exact pin of pyproject.toml, whose CPU wheel pip finds on this machine's disk) and uv into
# it, without their dependencies; uv then installs the rest (torch's dependencies included, torch
# itself already satisfied) and pip, in about 6 s where pip's resolver and installer take about
# 40 s on the 2-core CI machine.  Where the host's pip is older, or uv cannot be installed or
# fails, the venv's own pip (ensurepip) does the same install.  No bytecode compilation of whole
# packages at install (pip --no-compile; uv does not compile by default); the modules the jobs
# import are compiled once (WARM_TORCH and WARM_TOOLS).
comma      := ,
TORCH_PIN  := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')
PIP        := $(PY) -m pip install --quiet --disable-pip-version-check --no-compile
# $(call install,EXTRAS): uv when it was installed (pip itself too, for the user's own installs),
# else (or when uv fails) pip, bootstrapped into the venv first.
define install
{ test -x $(VENV)/bin/uv && $(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[$(1)]' pip; } \
	    || { $(PY) -m ensurepip --upgrade > /dev/null && $(PIP) -e '.[$(1)]'; }
endef
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(PY) install --quiet --disable-pip-version-check --no-compile \
	    --no-deps $(TORCH_PIN) uv || { $(PY) -m ensurepip --upgrade && $(PIP) $(TORCH_PIN) uv; }
	$(call install,dev)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" > /dev/null
	env -u PYTHONDONTWRITEBYTECODE $(PY) -c "$(WARM_TORCH)" & pid=$$!; \
	  env -u PYTHONDONTWRITEBYTECODE $(PY) -c "$(WARM_TOOLS)" && wait $$pid
	@touch $@

# Bytecode for what every job imports, written once here by importing it: without it, and with
# PYTHONDONTWRITEBYTECODE set (as in some CI and sandbox environments), each of the ~20 processes
# of make test compiled torch, matplotlib and the rest anew (import ntklib 8.3 s instead of 3.8 s).
# Compiling only the imported modules takes ~10 s (two processes side by side); compileall on all
# site-packages took 60 s of CPU.
WARM_TORCH := import ntklib, torch.func, sklearn.datasets, scipy.stats, scipy.stats.qmc, \
              scipy.integrate, scipy.special, matplotlib.pyplot, matplotlib.backends.backend_pdf, \
              matplotlib.backends.backend_agg
WARM_TOOLS := import papermill, ipykernel.kernelapp, pytest, nbval, hypothesis, nbformat, \
              matplotlib_inline.backend_inline

venv: $(STAMP)

# One target per notebook, so `make -j2 figures` runs them in parallel; each writes only its own
# figures (named after the notebook) and its own executed copy under build/figures/.
# scripts/run_notebook.py refuses a params file with unknown keys or wrong types before running,
# stages the figures and moves them into figures/ only when every verdict held.
# `make figures DEVICE=cuda` (or auto) runs every notebook's finite networks on a GPU.
figures: $(addprefix figure-,$(NAMES))

$(addprefix figure-,$(NAMES)): figure-%: $(STAMP)
	$(PY) scripts/run_notebook.py $* $(if $(DEVICE),--device $(DEVICE))

# The unit tests (two jobs) and the seven notebooks are nine independent jobs, run two at a time with
# one thread each (on the 2-core CI machine that keeps both cores busy without oversubscribing them),
# then the notebooks' verdict cells are compared with the committed outputs.
# Longest jobs first (papermill durations at CI scale: 03 and 06 about 150 s, each unit job about
# 90 s, then 07, 02, ...), so the two workers finish together; notebooks not listed run after these.
LONGEST_FIRST := 03_convergence 06_gan_checkerboard 07_architectural_universality 02_ntk_limit \
                 04_freeze_chaos 05_normalization 01_gp_init
TEST_ORDER := $(filter $(NAMES),$(LONGEST_FIRST)) $(filter-out $(LONGEST_FIRST),$(NAMES))
test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 \
	    $(addprefix nbrun-,$(wordlist 1,2,$(TEST_ORDER))) unit-a unit-b \
	    $(addprefix nbrun-,$(wordlist 3,99,$(TEST_ORDER))) lint
	$(PY) tests/nbcheck.py $(BUILD)/ci $(NOTEBOOKS)

unit: $(STAMP)
	$(PY) -m pytest -q tests

# The unit tests as two jobs of about 90 s each (make test), so that the two workers finish together:
# unit-a the files named here, unit-b every other file in tests/ (a new test file lands there).
UNIT_A := tests/test_kernels.py tests/test_activations.py tests/test_validation.py \
          tests/test_transformer.py
unit-a: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider $(UNIT_A)

unit-b: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests $(addprefix --ignore=,$(UNIT_A))

# ruff: lines <= 100 columns and pyflakes/pycodestyle errors in ntklib, the notebooks, the tests and
# the scripts, and the layout of `ruff format` (pyproject.toml [tool.ruff]).
lint: $(STAMP)
	$(VENV)/bin/ruff check --quiet .
	$(VENV)/bin/ruff format --check --quiet .

# The unit tests again on another code path of the same machine: MKL without AVX-512, ATen's
# baseline kernels, one thread.  No test may depend on bit-exact BLAS results or the thread count.
unit-portable: $(STAMP)
	MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 $(PY) -m pytest -q \
	    -p no:cacheprovider tests

# Every notebook at CI scale (its default parameters), executed once: papermill runs it headless
# (any error or failing assert fails the target) into build/ci/, its figures go to build/ci-figures
# (PNG only: they are not kept, and the PDFs cost as much again; make figures writes both; the
# notebook is written once at the end, not after every cell as papermill does by default),
# and tests/nbcheck.py compares its verdict cells (tag nbval-check-output or # NBVAL_CHECK_OUTPUT)
# with the committed outputs, as nbval --nbval-lax does.  `make -j2 test` runs two at a time.
nbtest: $(addprefix nbrun-,$(NAMES))
	$(PY) tests/nbcheck.py $(BUILD)/ci $(NOTEBOOKS)

$(addprefix nbrun-,$(NAMES)): nbrun-%: $(STAMP)
	@mkdir -p $(BUILD)/ci $(BUILD)/ci-figures
	@echo "papermill: $* (CI scale)"
	@rm -f $(BUILD)/ci/$*.ipynb
	@cd notebooks && NTKLIB_FIGURES=$(CURDIR)/$(BUILD)/ci-figures NTKLIB_FIGURE_FORMATS=png \
	     ../$(PY) -m papermill --log-level WARNING --no-request-save-on-cell-execute \
	     --no-progress-bar -k python3 $*.ipynb ../$(BUILD)/ci/$*.partial.ipynb \
	  && mv ../$(BUILD)/ci/$*.partial.ipynb ../$(BUILD)/ci/$*.ipynb

# Refresh the committed outputs (CI-scale parameters), then strip volatile metadata.
notebooks: $(STAMP)
	@set -e; for nb in $(NOTEBOOKS); do \
	  echo "executing $$nb"; \
	  (cd notebooks && NTKLIB_FIGURES=$(CURDIR)/$(BUILD)/ci-figures ../$(PY) -m papermill --log-level WARNING \
	     --no-progress-bar -k python3 $$(basename $$nb) $$(basename $$nb)); \
	  $(VENV)/bin/nbstripout --keep-output --keep-count --extra-keys \
	     "metadata.papermill cell.metadata.papermill cell.metadata.execution metadata.widgets" $$nb; \
	done

# Theory mutants (mutants/README.md), not part of `make test`: every notebook at CI scale under each mutant of
# mutants/catalogue.py, injected by one extra first cell, and an unmutated control; the table goes to
# build/mutants/ (table.md, results.json).  Exit 1 when the control fails or a mutant survives a notebook
# whose claim depends on it.  JOBS notebooks at a time (make -jN mutants sets it too; default 2).
JOBS ?= $(or $(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),2)
mutants: $(STAMP)
	$(PY) mutants/run.py --jobs $(JOBS) --dependent-only --out $(BUILD)/mutants

# Every (mutant, notebook) pair, also those whose claim does not depend on the mutant (informative:
# which verdicts react to what); several times longer than `make mutants`.
mutants-all: $(STAMP)
	$(PY) mutants/run.py --jobs $(JOBS) --out $(BUILD)/mutants-all

bench: $(STAMP)
	$(PY) benchmarks/run.py $(if $(DEVICE),--device $(DEVICE))

# JupyterLab itself is the `lab` extra: make test and make figures do not need it.
LAB_STAMP := $(VENV)/.lab-stamp
$(LAB_STAMP): pyproject.toml $(STAMP)
	$(call install,dev$(comma)lab)
	@touch $@

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab notebooks/

# The course site (book/): Sphinx + myst-nb render the notebooks with their committed outputs (never
# re-executed), a figures gallery and the ntklib API reference; nothing is downloaded but the `book` extra
# from PyPI.  BOOK_REPO=https://github.com/OWNER/REPO adds Binder links.  book-check needs Debian's chromium.
BOOK_STAMP := $(VENV)/.book-stamp
$(BOOK_STAMP): pyproject.toml $(STAMP)
	$(call install,dev$(comma)book)
	@touch $@

book: $(BOOK_STAMP)
	BOOK_REPO="$(BOOK_REPO)" $(PY) book/build.py

book-check: book
	$(PY) book/check_site.py

clean:
	rm -rf $(BUILD) $(VENV) *.egg-info

# The student edition: $(BUILD)/student/NAME.ipynb without the exercise solutions (the <details> Solution
# blocks), with the Colab/Binder badges and the install cell (scripts/make_student.py).
.PHONY: student
student: $(STAMP)
	$(PY) scripts/make_student.py --out $(BUILD)/student
