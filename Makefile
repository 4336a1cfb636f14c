# Two commands do all the set-up on a fresh machine (Python 3.11+):
#   make run    the whole local stack: moto (SQS, S3, SES), web, worker, local sqsd, cron
#   make test   the test suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set)
#   make lint   ruff over the whole repository (CI runs it before the tests)
#   make bench  the benchmark: paths against bare reference apps, one table (docs/performance.md)
#   make chaos  the fault-injection suite on its own stack and PostgreSQL (docs/reliability.md)
#   make bundle dist/aula.zip, the source bundle `eb deploy` uploads (.ebignore decides what is in it)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bundle bench chaos clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Aula needs Python 3.11 or newer; set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m devstack.run

# Two pytest-xdist workers: the chaos scenarios (minutes of mostly waiting on their own stack) run
# on one while the other takes the rest, and the two share what is left (tests/conftest.py names
# the groups that stay on one worker). PYTEST_ARGS come after, so PYTEST_ARGS="-n 0" runs serially.
TEST_WORKERS ?= -n 2 --dist loadgroup

test: $(STAMP)
	$(PY) -m pytest $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

bundle: $(STAMP)
	$(PY) -m infra.bundle dist/aula.zip

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

# CHAOS_ARGS: e.g. "--long", "--only R3,R6", "--keep-logs" (python -m chaos --help)
chaos: $(STAMP)
	$(PY) -m chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
