# One entry point for people and CI. Every target creates what it needs on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
CHECKOV_VENV ?= .venv-checkov
PYTEST_ARGS ?=

.PHONY: install run demo test test-fast lint typecheck sandbox bench soak package deploy system-tools checkov wheels clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { echo "cannot create $(VENV): on Debian or Ubuntu, apt-get install python3-venv" >&2; exit 1; }
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Debian's Chromium for the browser test (test tools may not download their own browser)
# and shellcheck for the deploy script's lint test.
SYSTEM_TOOLS := chromium shellcheck
system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	  || echo "could not install$$missing: the tests that need them will say so"; \
	fi

# checkov lives in its own virtual environment: its pins clash with ours.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip --disable-pip-version-check -q install 'checkov>=3.2,<4'
	touch $@

checkov: $(CHECKOV_VENV)/.installed

# The wheels of every function bundle's pinned requirements, from the package index: the bundle
# test installs each bundle from these alone (pip --no-index), so the test itself stays offline.
WHEELHOUSE := .cache/wheels
$(WHEELHOUSE)/.complete: pyproject.toml $(VENV)/.installed
	mkdir -p $(WHEELHOUSE)
	$(PY) deploy/package.py --print-requirements > .cache/bundle-requirements.txt
	$(PIP) download --only-binary=:all: -d $(WHEELHOUSE) -r .cache/bundle-requirements.txt
	touch $@

wheels: $(WHEELHOUSE)/.complete

run: install
	$(PY) -m devstack run

demo: install
	$(PY) -m devstack demo

sandbox: install
	$(VENV)/bin/webflow-sandbox --host 127.0.0.1 --port 8700

test: install system-tools checkov wheels lint typecheck
	CHECKOV_BIN=$(abspath $(CHECKOV_VENV))/bin/checkov $(PY) -m pytest -n 2 $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -n 2 -m "not browser and not e2e" $(PYTEST_ARGS)

# ruff's lint and format check, and xenon's gate: no function of shared/, webflow_cli/ or
# functions/ above radon's grade C (all run, any fails the target); part of `make test`.
LINT_PATHS := shared webflow_cli functions sandbox devstack bench deploy tests
lint: install
	$(VENV)/bin/ruff check $(LINT_PATHS); status=$$?; \
	$(VENV)/bin/xenon --max-absolute C shared webflow_cli functions || status=1; \
	$(VENV)/bin/ruff format --check $(LINT_PATHS) && exit $$status

# mypy in strict mode (settings in pyproject.toml); part of `make test`. Each function's main.py
# is checked on its own, since all four are modules named main.
TYPED_PATHS := shared webflow_cli sandbox devstack bench tests
typecheck: install
	$(VENV)/bin/mypy $(TYPED_PATHS)
	@for source in functions/*/main.py; do $(VENV)/bin/mypy "$$source" || exit 1; done

bench: install
	$(PY) -m bench

soak: install
	$(PY) -m bench.soak

package: install
	$(PY) deploy/package.py

deploy: install
	bash deploy/deploy.sh

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .local dist build *.egg-info .pytest_cache
