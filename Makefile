# OpsCRM developer commands. `make demo` and `make test` are the README's first two.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_CUSTOMERS ?= 2000
DEMO_OPENING_MINUTES ?= 3
CHROMIUM ?= /usr/bin/chromium
# make is the developer's tool: its commands (the demo, migrate, worker, beat, lint's
# migration check) run the development profile, with a key generated once under var/.
# The settings' own default is production (DEBUG off, SECRET_KEY required).
export DEBUG ?= true

.PHONY: install demo test chromium lint format migrate worker beat stop clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstalled only when the dependencies change (the stamp is newer than both files).
install: $(VENV)/.installed

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements/constraints.txt
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	touch $@

# The whole product: its own PostgreSQL (unless DATABASE_URL is set), demo data, the site,
# a Celery worker and beat. Ctrl-C stops everything; a rerun reuses the data.
demo: install
	$(BIN)/python manage.py demo --port $(PORT) --customers $(DEMO_CUSTOMERS) \
	  --opening-in $(DEMO_OPENING_MINUTES)

# The whole suite on its own PostgreSQL (unless TEST_DATABASE_URL is set).
test: install chromium
	$(BIN)/pytest

# Browser tests drive Debian's chromium: installed here when missing and we are root.
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Debian's chromium. Install it with: sudo apt-get install -y chromium"; \
	    exit 1; \
	  fi; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: install
	$(BIN)/python manage.py migrate

worker: install
	$(BIN)/celery -A crm worker --loglevel=INFO --concurrency=2

beat: install
	$(BIN)/celery -A crm beat --loglevel=INFO --schedule var/celerybeat-schedule

# Stop the project's own PostgreSQL servers (demo and tests) if they run.
stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m crm.core.databases stop var/postgres var/postgres-test; fi

# Everything the project made: the virtualenv, its databases (stopped first), broker files,
# the development key.
clean: stop
	rm -rf $(VENV) var/postgres var/postgres-test var/broker var/broker-test var/log \
	  var/uploads var/celerybeat-schedule* var/.postgres*.lock var/secret_key staticfiles \
	  .pytest_cache .ruff_cache .schemathesis
