# LeadForm: `make run` serves the app; `make test` runs the tests. Both start from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
LEADS  ?= 300
SEED   ?=
FLASK  := $(BIN)/flask --app wsgi

.PHONY: run test lint format install migrate demo bench-submit bench-dashboard clean

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

# `users ensure-admin` prints the demo admin's generated password, once, when there is no
# staff user yet; it fails loudly (stopping make) if it cannot do its job. Links in the
# notification mail follow the address the app is served at (unless LEADFORM_BASE_URL is set).
# An outbox worker runs beside the server, so the prospect's confirmation and the staff alert
# land in instance/mail/ (or go through LEADFORM_SMTP_URL) seconds after a submission; it is
# stopped when the server stops (Ctrl-C, or the shell exiting for any reason but SIGKILL).
# Without a team address or a routing team a new lead's alert has nobody to go to: in `make
# run` it goes to the demo admin (override with LEADFORM_NOTIFY_EMAILS=... make run).
run: export LEADFORM_NOTIFY_EMAILS ?= admin@example.com
run: migrate ## serve on http://127.0.0.1:$(PORT) with an outbox worker (embedded SQLite unless LEADFORM_DATABASE_URL is set)
	$(FLASK) users ensure-admin
	@echo "Staff sign-in: http://127.0.0.1:$(PORT)/staff/login"
	@echo "Outbox worker: running beside the server; mail goes to instance/mail/ unless LEADFORM_SMTP_URL is set"
	@$(FLASK) outbox work & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	trap 'exit 130' INT TERM HUP; \
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

demo: migrate ## add a demo team and a few hundred realistic leads (make demo LEADS=1000 SEED=1)
	$(FLASK) users ensure-admin
	$(FLASK) demo load --leads $(LEADS) $(if $(SEED),--seed $(SEED))

test: install ## the whole suite (SQLite unless LEADFORM_TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install ## ruff, import rules (import-linter) and types (mypy)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-submit: install ## LeadForm's submit path vs a bare INSERT under gunicorn on PostgreSQL (BENCH_ARGS="--duration 20")
	$(BIN)/python bench/submit.py $(BENCH_ARGS)

bench-dashboard: install ## queue queries, every staff page over HTTP and the CSV export at 1,000,000 leads on a throwaway PostgreSQL database (BENCH_ADMIN_URL; BENCH_ARGS="--keep")
	$(BIN)/python bench/dashboard.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
