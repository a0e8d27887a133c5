# LeadForm: `make run` serves the app; `make test` runs the tests. Both start from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
FLASK  := $(BIN)/flask --app wsgi

.PHONY: run test test-browser lint format install migrate demo bench bench-dashboard clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## create the virtualenv and install LeadForm with its dev tools

migrate: install ## apply migrations and load the bundled program catalog
	$(FLASK) db upgrade
	$(FLASK) programs load

run: migrate ## serve on http://127.0.0.1:$(PORT) (embedded SQLite unless LEADFORM_DATABASE_URL is set)
	$(FLASK) users ensure-admin 2>/dev/null || true
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install ## the whole suite (SQLite unless LEADFORM_TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-dashboard: install ## queue queries and CSV export at 1,000,000 leads on a throwaway PostgreSQL database (BENCH_ADMIN_URL)
	$(BIN)/python bench/dashboard.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
