# The two set-up commands: `make run` (the whole stack) and `make test` (the test suite).
# Each bootstraps what it needs: uv (into .tools/ when it is not installed), the virtualenv
# (.venv, from uv.lock) and, for the browser, Chromium from Debian when no browser is found.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run demo test bench lint format deps browser check-redis migrate messages clean help

help:
	@echo "make run    - the whole stack: web, scraping + default workers, beat, Flower (SQLite, Redis on localhost)"
	@echo "make demo   - the same stack pointed at the local Registraduria simulator"
	@echo "make test   - the test suite (needs Redis; PostgreSQL with DATABASE_URL=postgres://...)"
	@echo "make lint   - ruff check + format check"
	@echo "make bench  - the benchmarks: dispatch, scraper, politeness, portal (~10 min, Redis db 9; README)"

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --group dev
	@touch $@

deps: $(VENV)/.synced

browser:
	@bin/ensure-chromium

check-redis: deps
	@$(PY) -m project.preflight

# The local stack runs with DEBUG on unless told otherwise (DEBUG=0 needs a SECRET_KEY), its
# output unbuffered: honcho reads it through a pipe, and "serving on :8000" must show at once.
LOCAL_ENV := DEBUG=$${DEBUG:-1} PYTHONUNBUFFERED=1

migrate: deps
	$(LOCAL_ENV) $(PY) manage.py migrate --noinput

STACK := web worker-scraping worker-default worker-captcha beat flower

run: deps browser check-redis migrate
	$(LOCAL_ENV) $(VENV)/bin/honcho -f Procfile start $(STACK)

# The same stack, verifying against the local simulator of the Registraduria (port 8001).
demo: deps browser check-redis migrate
	$(LOCAL_ENV) \
	REGISTRADURIA_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8001}/ \
	CAPTCHA_SOLVER=twocaptcha \
	CAPTCHA_API_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8001}/solver \
	CAPTCHA_API_KEY=demo-key \
	$(VENV)/bin/honcho -f Procfile start $(STACK) simulator

test: deps browser
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Benchmarks (README.md, "Benchmarks"): their own Redis db 9 and a SQLite file under
# /tmp, never the development ones; tables on stdout, JSON in benchmarks/results/.
# BENCH_ARGS picks some and sizes them: make bench BENCH_ARGS="scraper portal --quick".
bench: deps browser
	$(UV) sync --frozen --all-extras --group dev --group bench
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Translations: refresh locale/en/LC_MESSAGES/django.po from the code and templates, translate
# the new entries by hand, then run this again to compile django.mo (committed with the .po;
# needs gettext's msgfmt, `apt-get install gettext`). tests/test_i18n.py fails on a stale .mo.
MESSAGES_IGNORE := --ignore=.venv --ignore=.tools --ignore=scraping --ignore=tests \
	--ignore=benchmarks --ignore=staticfiles --ignore=test-artifacts
messages: deps
	DEBUG=1 $(PY) manage.py makemessages -l en --no-location $(MESSAGES_IGNORE)
	DEBUG=1 $(PY) manage.py compilemessages -l en $(MESSAGES_IGNORE)

clean:
	rm -rf .venv .tools staticfiles db-test.sqlite3* .pytest_cache
