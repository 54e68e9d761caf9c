# Herald — the setup commands. Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
NPM_STAMP := node_modules/.stamp-npm
VENDOR := src/herald/web/static/vendor
VENDOR_FILES := $(VENDOR)/htmx.min.js $(VENDOR)/chart.umd.js

.PHONY: install test test-fast lint demo bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The web UI's front-end libraries, exactly as pinned in package-lock.json, copied next to our own static files.
$(NPM_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

$(VENDOR_FILES): $(NPM_STAMP)
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/chart.js/dist/chart.umd.js $(VENDOR)/

install: $(STAMP) $(VENDOR_FILES)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/vulture
	$(BIN)/lint-imports

# The whole suite; what .ci/run calls. PostgreSQL too when HERALD_TEST_POSTGRES_URL is set. Two
# processes (pytest-xdist): one at a time took 30 minutes on a two-core machine, two take about 17.
test: lint
	$(BIN)/pytest -n 2

# The loop to run while you work: lint, then, on every core (pytest-xdist), the tests that start no
# process or server, drive no browser and take no second or more by design (the markers in
# pyproject.toml; CONTRIBUTING.md says which is which). Like `make test`, the database tests also
# run on PostgreSQL when HERALD_TEST_POSTGRES_URL is set; leave it unset for the quickest loop.
test-fast: lint
	$(BIN)/pytest -n auto -m "not process and not server and not browser and not slow"

demo: install
	$(BIN)/herald demo

# Long and disruptive fault tests (minutes; restarts the local PostgreSQL cluster): see docs/operations.md.
soak: install
	HERALD_SOAK=1 $(BIN)/pytest tests/faults -v

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var node_modules $(VENDOR)
