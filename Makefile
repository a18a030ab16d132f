# OpsCRM developer commands. `make demo` and `make test` are the README's first two.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_CUSTOMERS ?= 2000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/opscrm

.PHONY: install demo test lint format migrate worker beat bench-import bench-recompute clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e ".[dev]"

# Fresh demo on the embedded default: SQLite under var/, Celery tasks run inline.
demo: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py collectstatic --no-input -v0
	$(BIN)/python manage.py generate_demo_data --customers $(DEMO_CUSTOMERS) --if-empty
	$(BIN)/python manage.py create_demo_users
	@echo "OpsCRM demo: http://127.0.0.1:$(PORT)/  (admin: http://127.0.0.1:$(PORT)/admin/)"
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The whole suite against PostgreSQL (browser tests need /usr/bin/chromium).
test: install
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DATABASE_URL=sqlite:///:memory: $(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: install
	$(BIN)/python manage.py migrate

worker: install
	$(BIN)/celery -A crm worker --loglevel=INFO --concurrency=2

beat: install
	$(BIN)/celery -A crm beat --loglevel=INFO

clean:
	rm -rf $(VENV) var/*.sqlite3 staticfiles .pytest_cache .ruff_cache
