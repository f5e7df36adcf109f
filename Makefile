# The two set-up commands: `make run` (the whole stack) and `make test` (the test suite).
# Each bootstraps what it needs: uv (into .tools/ when it is not installed), the virtualenv
# (.venv, from uv.lock) and, for the browser, Chromium from Debian when no browser is found.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run demo superuser manage test test-fast bench lint format deps browser check-redis migrate messages schema clean help

help:
	@echo "make run    - the whole stack: web, scraping + default workers, beat, Flower (SQLite, Redis on localhost)"
	@echo "make demo   - the same stack pointed at the local Registraduria simulator"
	@echo "make superuser - create a staff user for /ops/ and /admin/ (local stack settings)"
	@echo "make manage CMD=\"circuit --probe\" - any manage.py command under the local stack settings"
	@echo "make test   - the test suite (needs Redis; PostgreSQL with DATABASE_URL=postgres://...)"
	@echo "make test-fast - the tests without browser, worker processes or long runs (~1 min)"
	@echo "make lint   - ruff check + format check"
	@echo "make bench  - the benchmarks: dispatch, scraper, politeness, portal (~10 min, Redis db 9; README)"

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

# Bytecode compiled once at install: every process the stack or the suite starts (workers, beat,
# manage.py, the parallel test processes) imports Django and Celery from it instead of
# compiling them again (a worker boots in 0.8 CPU-s instead of 2.6).
SYNC := $(UV) sync --frozen --all-extras --group dev --compile-bytecode

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(SYNC)
	@touch $@

deps: $(VENV)/.synced

browser:
	@bin/ensure-chromium

check-redis: deps
	@$(LOCAL_ENV) $(PY) -m project.preflight

# The local stack runs with DEBUG on and open sign-up unless told otherwise (DEBUG=0 needs a
# SECRET_KEY; production's default is SIGNUP_MODE=invite), its output unbuffered: honcho reads
# it through a pipe, and "serving on :8000" must show at once.
LOCAL_ENV := DEBUG=$${DEBUG:-1} SIGNUP_MODE=$${SIGNUP_MODE:-open} PYTHONUNBUFFERED=1
# Under honcho, which stamps each line with its own clock: one clock per line.
STACK_ENV := $(LOCAL_ENV) LOG_TIMESTAMPS=0

migrate: deps
	$(LOCAL_ENV) $(PY) manage.py migrate --noinput

STACK := web worker-scraping worker-default worker-captcha beat flower ready

run: deps browser check-redis migrate
	$(STACK_ENV) $(VENV)/bin/honcho -f Procfile start $(STACK)

# The same stack, verifying against the local simulator of the Registraduria (port 8001).
demo: deps browser check-redis migrate
	$(STACK_ENV) \
	REGISTRADURIA_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8001}/ \
	REGISTRADURIA_WSP_URL=http://127.0.0.1:$${SIMULATOR_WSP_PORT:-8002}/censo/consultar/ \
	CENSUS_SOURCES=consultacenso,wsp \
	CAPTCHA_SOLVER=twocaptcha \
	CAPTCHA_API_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8001}/solver \
	CAPTCHA_API_KEY=demo-key \
	WEBHOOK_ALLOW_PRIVATE_URLS=1 \
	$(VENV)/bin/honcho -f Procfile start $(STACK) simulator

# The ops commands of the README under the local stack's settings (DEBUG on, no SECRET_KEY
# needed), in a fresh shell: `make superuser`, `make manage CMD="circuit --probe"`.
superuser: deps migrate
	$(LOCAL_ENV) $(PY) manage.py createsuperuser

manage: deps
	$(LOCAL_ENV) $(PY) manage.py $(CMD)

# The suite runs in TEST_WORKERS parallel processes (pytest-xdist; 0 runs it in one), each with
# its own Redis database and test database (tests/conftest.py). --maxschedchunk 1 hands the tests
# out one at a time, in the order tests/conftest.py gives them (longest first). `make test` takes
# nine on two cores: its worker and browser tests spend much of their time waiting on a rate, a
# page or a kill. With six, the first minutes (the chaos run beside five other long tests, all
# waiting) and a minute after them left the cores idle: 33 CPU-s of a run, and 50 more that only
# the chaos run's idle-only hogs took (7 with nine). With nine, no 30-second stretch but the last
# is more than 2 % idle, and back-to-back runs took 287 and 283 s against 313 and 298 s with six
# (twelve: 282 s, no better; each process costs 3.5 CPU-s to start and collect). The PostgreSQL
# pass takes the same with nine or six (115 and 114 s). `make test-fast` has no such waits: four
# do more than six, whose extra start-ups only cost CPU (the times are in README.md, "Tests").
TEST_WORKERS ?= 9
FAST_TEST_WORKERS ?= 4
parallel = $(if $(filter 0,$(1)),,-n $(1) --maxschedchunk 1)

# The project's own modules and the tests' (pytest's assertion rewriting) are compiled by their
# first import and kept: PYTHONDONTWRITEBYTECODE, when a machine sets it, would have each of the
# suite's processes compile them again.
test test-fast: export PYTHONDONTWRITEBYTECODE :=

# One run: the chaos test (`cpu_hogs`) goes first and runs beside the rest (tests/conftest.py),
# and what the long runs measured is printed at the end.
test: deps
	@bin/ensure-chromium --tests
	$(VENV)/bin/pytest $(call parallel,$(TEST_WORKERS)) $(PYTEST_ARGS)

# The inner loop: no browser, no worker processes, no long tests (about a minute).
test-fast: deps
	$(VENV)/bin/pytest $(call parallel,$(FAST_TEST_WORKERS)) \
		-m "not browser and not worker and not slow and not soak" $(PYTEST_ARGS)

# Benchmarks (README.md, "Benchmarks"): their own Redis db 9 and a SQLite file under
# /tmp, never the development ones; tables on stdout, JSON in benchmarks/results/.
# BENCH_ARGS picks some and sizes them: make bench BENCH_ARGS="scraper portal --quick".
bench: deps browser
	$(SYNC) --group bench
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
MESSAGES_IGNORE := --ignore=.venv --ignore=.tools --ignore=scraping --ignore=simulator --ignore=harness --ignore=tests \
	--ignore=benchmarks --ignore=staticfiles --ignore=test-artifacts
messages: deps
	DEBUG=1 $(PY) manage.py makemessages -l en --no-location $(MESSAGES_IGNORE)
	DEBUG=1 $(PY) manage.py compilemessages -l en $(MESSAGES_IGNORE)

# The OpenAPI schema of /api/v1/, committed: tests/test_openapi.py fails when it is stale.
schema: deps
	DEBUG=1 $(PY) manage.py spectacular --lang en --validate --fail-on-warn --file docs/openapi.yaml

clean:
	rm -rf .venv .tools staticfiles db-test.sqlite3* .pytest_cache
