# LiveImport developer entry points. Every target sets up what it needs in
# ./.venv (created with the python3 on PATH), so a fresh clone needs only
# Python 3 and a Rust toolchain.
#
# `make test` builds the abi3 wheel once (target/wheels-make/), installs that
# same wheel into .venv, where the whole suite runs, and into one venv per
# other supported CPython found under $(PYENV_VERSIONS) (.venv-py3.10, ...),
# where the suite minus the browser and slow tests runs (all side by side:
# a pytest run keeps less than one core busy). `slow` marks what is
# long and the same on every Python: the packaging checks, the soak, the
# benchmark smoke test, the differential test against PyPI liveimport and
# the two kernel tests that walk the whole example notebook.

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
DEPS   := $(VENV)/.deps-stamp
BUILT  := $(VENV)/.build-stamp
SOURCES := $(shell find crates python -type f \( -name '*.rs' -o -name '*.py' -o -name '*.pyi' -o -name 'Cargo.toml' -o -name 'py.typed' -o -name 'symbol-order.txt' -o -name '*.ld' \) 2>/dev/null) \
           Cargo.toml Cargo.lock pyproject.toml README.md LICENSE

# The one wheel that `make` builds; every venv installs this file.
WHEELS := target/wheels-make
WHEEL_STAMP := $(WHEELS)/.stamp

# Other interpreters to test the wheel with: every CPython >= 3.10 under
# PYENV_VERSIONS (older ones, and the version .venv already runs, are
# skipped by tools/test_pythons.py). Override PYTHONS to choose others, or
# set it empty to skip them.
PYENV_VERSIONS ?= $(HOME)/.pyenv/versions
PYTHONS ?= $(sort $(wildcard $(PYENV_VERSIONS)/3.*/bin/python3))
PY_MARKERS ?= not slow and not browser
PY_JOBS ?= 2
# What those runs need: the kernel tests drive real Jupyter kernels of that
# interpreter. The browser test module is not even collected (it imports
# Playwright, which these venvs do not hold).
PY_TEST_DEPS := "pytest>=7" "pytest-timeout>=2" "hypothesis>=6" "ipython>=8" \
                "ipykernel>=6" "jupyter_client>=8" "nbclient>=0.10" "nbformat>=5"
PY_PYTEST_ARGS := --pytest-arg=--ignore=$(CURDIR)/tests/test_browser.py

.PHONY: demo test build wheel check lint-workflows rust-test py-all py-test py-versions \
        browser cross-check bench bench-quick soak fuzz docs symbol-order clean

demo: $(BUILT)
	$(VPY) examples/demo.py

test: check rust-test py-all

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(DEPS): $(VENV)/bin/python pyproject.toml Makefile
	$(VPY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VPY) -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" \
	    "ipython>=8" "ipykernel>=6" "jupyter_client>=8" "nbclient>=0.10" "nbformat>=5" \
	    "pytest>=7" "pytest-timeout>=2" "hypothesis>=6" "ruff>=0.5" "mypy>=1.10" \
	    "auditwheel>=6" "check-jsonschema>=0.29" "uv>=0.4" \
	    "jupyterlab==4.6.6" "playwright==1.65.2"
	touch $@

# maturin picks the most compatible platform tag the binary honours
# (manylinux_2_34 on this Debian 12 machine; see docs/install.md).
$(WHEEL_STAMP): $(DEPS) $(SOURCES)
	rm -rf $(WHEELS)
	$(VENV)/bin/maturin build --release --quiet --out $(WHEELS)
	touch $@

wheel: $(WHEEL_STAMP)

$(BUILT): $(WHEEL_STAMP)
	$(VPY) -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
	    --force-reinstall $(WHEELS)/*.whl
	touch $@

build: $(BUILT)

check: $(BUILT) lint-workflows
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(VPY) -m ruff check python tests bench examples docs tools
	$(VPY) -m ruff format --check python
	$(VPY) -m mypy
	$(VPY) -m mypy.stubtest liveimport._engine
	$(VPY) tools/gen_charmaps.py --check

# The GitHub Actions workflows: schema check, then what a schema cannot see
# (actionlint cannot be installed here: its PyPI package downloads the
# binary while it builds).
lint-workflows: $(DEPS)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VPY) tools/check_workflows.py .github/workflows/*.yml

rust-test:
	cargo test --profile test-release -p liveimport-engine --quiet

# The whole suite, packaging checks included (tests/test_packaging.py: the
# wheel passes auditwheel; the sdist builds and imports in a fresh venv).
py-test: $(BUILT) browser
	LIVEIMPORT_WHEEL_DIR=$(WHEELS) $(VPY) -m pytest -q

# tests/test_browser.py drives JupyterLab in Debian's chromium (Playwright's
# own browser download cannot work here). Without it the test skips, loudly;
# under CI=true it fails.
browser:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	    || echo "warning: could not install chromium: tests/test_browser.py will not run"; \
	else echo "note: no chromium (Debian package chromium): tests/test_browser.py will not run"; fi

# What `make test` runs: the whole suite in .venv and, at the same time, the
# other CPythons' runs (a pytest run keeps less than one core busy, mostly
# waiting for kernels and subprocesses); their report follows the suite's.
py-all: $(BUILT) browser
	@mkdir -p target
	$(MAKE) --no-print-directory py-versions > target/py-versions.out 2>&1 & other=$$!; \
	LIVEIMPORT_WHEEL_DIR=$(WHEELS) $(VPY) -m pytest -q; main=$$?; \
	wait $$other; versions=$$?; cat target/py-versions.out; \
	test $$main = 0 && test $$versions = 0

py-versions: $(BUILT)
	$(VPY) tools/test_pythons.py --wheel-dir $(WHEELS) --main-python $(VPY) --uv $(VENV)/bin/uv \
	    --markers "$(PY_MARKERS)" --jobs $(PY_JOBS) $(PY_PYTEST_ARGS) --deps $(PY_TEST_DEPS) \
	    -- $(PYTHONS)

# Lint the crates for macOS and Windows (not part of `make test`): needs
# `rustup target add $(CROSS_TARGETS)` and, for the C and assembly files of a
# dependency (psm, stacker), Debian's clang. The MSVC target is not checked:
# those files need the Windows SDK headers (its Rust code is the -gnu one's).
CROSS_TARGETS := x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu
cross-check:
	set -e; for target in $(CROSS_TARGETS); do \
	    echo "cargo clippy --target $$target"; \
	    env CC_$$(echo $$target | tr - _)=clang cargo clippy --quiet --target $$target \
	        -p liveimport-engine -p liveimport-python -- -D warnings; \
	done

bench: $(BUILT)
	$(VPY) bench/run.py --full

bench-quick: $(BUILT)
	$(VPY) bench/run.py --quick

soak: $(BUILT)
	$(VPY) -m pytest -q tests/test_soak.py --soak-cycles=10000

fuzz: $(BUILT)
	$(VPY) -m pytest -q tests/test_parser_differential.py --fuzz-examples=20000

docs: $(BUILT)
	$(VPY) docs/gen_api.py

# Re-list the functions a kernel runs, for the linker to pack together
# (crates/python/build.rs); needs valgrind. Then rebuild with the new list.
symbol-order: $(BUILT)
	$(VPY) tools/gen_symbol_order.py
	$(MAKE) build

clean:
	rm -rf $(VENV) $(VENV)-py3.* $(VENV)-pypi* target
