# LiveImport developer entry points. Every target sets up what it needs in
# ./.venv (created with the python3 on PATH), so a fresh clone needs only
# Python 3 and a Rust toolchain.

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
DEPS   := $(VENV)/.deps-stamp
BUILT  := $(VENV)/.build-stamp
SOURCES := $(shell find crates python -type f \( -name '*.rs' -o -name '*.py' -o -name '*.pyi' -o -name 'Cargo.toml' \) 2>/dev/null) Cargo.toml pyproject.toml

.PHONY: demo test build check rust-test py-test browser lint bench bench-quick soak fuzz docs clean

demo: $(BUILT)
	$(VPY) examples/demo.py

test: check rust-test py-test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(DEPS): $(VENV)/bin/python pyproject.toml
	$(VPY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VPY) -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" \
	    "ipython>=8" "ipykernel>=6" "jupyter_client>=8" "nbclient>=0.10" "nbformat>=5" \
	    "pytest>=7" "pytest-timeout>=2" "hypothesis>=6" "ruff>=0.5" "mypy>=1.10" \
	    "jupyterlab==4.6.6" "playwright==1.65.2"
	touch $@

$(BUILT): $(DEPS) $(SOURCES)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet
	touch $@

build: $(BUILT)

check: $(BUILT)
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(VPY) -m ruff check python tests bench examples docs
	$(VPY) -m ruff format --check python
	$(VPY) -m mypy
	$(VPY) -m mypy.stubtest liveimport._engine

rust-test:
	cargo test --release -p liveimport-engine --quiet

py-test: $(BUILT) browser
	$(VPY) -m pytest -q

# tests/test_browser.py drives JupyterLab in Debian's chromium (Playwright's
# own browser download cannot work here). Without it the test skips, loudly;
# under CI=true it fails.
browser:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	    || echo "warning: could not install chromium: tests/test_browser.py will not run"; \
	else echo "note: no chromium (Debian package chromium): tests/test_browser.py will not run"; fi

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

clean:
	rm -rf $(VENV) target
