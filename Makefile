# Both targets bootstrap .venv from scratch when it is missing; nothing else is needed but Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test coverage lint typecheck docs system-tools lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[emulator]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/ppm-tokens demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The documentation site (mkdocs.yml, docs/) into site/: --strict fails on any warning, such as a
# link or anchor that lands nowhere or a page left out of the nav. Offline: no plugin downloads.
# NO_MKDOCS_2_WARNING quiets the theme's banner about MkDocs 2.0, which is not a build warning.
# (Not --quiet: it hides the warnings from the count that --strict fails on.)
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Real programs the tests drive, installed from Debian when missing, so that `make test` on a
# fresh machine runs every test instead of skipping any: headless Chromium and its driver for
# the HTML report, Node.js for the workflows' github-script steps, R and curl for the consumer
# tests (install.packages() against the emulator; R's curl download method runs curl).
system-tools:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	bare=""; \
	command -v Rscript >/dev/null || bare="$$bare r-base-core"; \
	command -v curl >/dev/null || bare="$$bare curl"; \
	if [ -n "$$missing$$bare" ]; then \
		echo "Installing from Debian:$$missing$$bare"; \
		$(SUDO) apt-get update -qq || exit 1; \
		if [ -n "$$missing" ]; then \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				$$missing >/dev/null || exit 1; \
		fi; \
		if [ -n "$$bare" ]; then \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends $$bare >/dev/null || exit 1; \
		fi; \
	fi

# pytest exits 5 when it collected nothing; that must fail too, and it does because any
# non-zero status stops make. Workers are twice the cores: most tests spend their time waiting
# on a server or a CLI subprocess, and work stealing keeps the long end-to-end tests from
# queueing behind one worker at the end. Coverage is `make coverage`: measuring every CLI
# subprocess costs about a third more time than the suite itself.
JOBS ?= $(shell $(PYTHON) -c 'import os; print(2 * len(getattr(os, "sched_getaffinity", lambda _: range(os.cpu_count() or 1))(0)))')
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist worksteal

test: $(VENV)/.installed-dev lint typecheck docs system-tools
	$(PYTEST)

# The same suite under coverage, which follows the workers and the CLI subprocesses.
coverage: $(VENV)/.installed-dev system-tools
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -n $(JOBS) --dist worksteal
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --skip-covered

# The action installs from this lock: every runtime and build dependency pinned by hash.
# Regenerate after changing dependencies in pyproject.toml (tests/test_workflow_checks.py checks).
# The release workflow builds with the tools of requirements-release.in, locked the same way.
lock: $(VENV)/.installed-dev
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps --strip-extras \
		--extra aws --extra github --no-emit-index-url --no-emit-find-links \
		--output-file=requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links \
		--output-file=requirements-release.lock requirements-release.in

# About 10 minutes on 2 cores; each script's docstring gives its own time and smaller sizes.
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/emulator_list.py
	$(BIN)/python bench/reconcile_scale.py
	$(BIN)/python bench/plan_scale.py
	$(BIN)/python bench/apply_latency.py
	$(BIN)/python bench/scaling.py
	$(BIN)/python bench/store_apply.py
	$(BIN)/python bench/rspm_driver.py
	$(BIN)/python bench/day2_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage site
