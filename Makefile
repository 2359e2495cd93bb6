# make run         - the whole stack on http://127.0.0.1:8000 (Flower on :5555), Ctrl-C stops it
# make test        - lint, format check, import layers and the whole test suite
# make test-fast   - the inner loop: no worker, browser or fault tests, two processes, no lint
# make test-rabbitmq - the worker tests again with RabbitMQ as the broker (RABBITMQ_URL)
# make screenshots - runs the browser tests to refresh the committed docs/screenshots/
# make chaos       - a sale through rolling faults on make run's stack (SOAK_SECONDS, 300)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Local development defaults; production sets DEBUG=false and a SECRET_KEY.
export DEBUG ?= true

.PHONY: run test test-fast test-rabbitmq screenshots chaos lint format install migrate bench clean openapi

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m devtools.stack --prepare

# Two pytest-xdist processes, each with its own test database and Redis database
# (tests/conftest.py); the worker tests' processes listen on queues of their own.
TEST_PROCESSES ?= 2
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

# Markers come from fixtures (tests/conftest.py). Each process of pytest-xdist has
# its own test database and its own Redis database (conftest.py); the OpenAPI
# fuzzing sends 10 generated requests per operation instead of 25.
FAST_PROCESSES ?= 2
test-fast: install
	OPENAPI_FUZZ_EXAMPLES=10 $(BIN)/pytest -n $(FAST_PROCESSES) \
		-m "not worker and not browser and not fault" $(PYTEST_ARGS)

# The tests that start workers, beat or gunicorn, again with RabbitMQ as the
# Celery broker (docs/brokers.md); Redis still holds results, caps and throttles.
# Browser tests stay out (they only add Chromium to the same pipeline), and so do
# fault tests but their RabbitMQ variants (marked rabbitmq), which bring their own node.
RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672//
test-rabbitmq: install
	CELERY_BROKER_URL=$(RABBITMQ_URL) $(BIN)/pytest \
		-m "worker and not browser and (not fault or rabbitmq)" $(PYTEST_ARGS)

# Browser tests write their screenshots to a temporary folder, except here.
screenshots: install
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -m browser tests/browser $(PYTEST_ARGS)

# A soak, not part of make test: a sale at 4 buyers/s while processes and servers die.
SOAK_SECONDS ?= 300
chaos: install
	SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/pytest -s -p no:cacheprovider tests/faults/test_rolling_faults.py

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: install
	$(BIN)/python -m devtools.openapi_snapshot

bench: install
	$(BIN)/python -m bench.flash_sale

clean:
	rm -rf $(VENV) staticfiles db.sqlite3* test_db.sqlite3* .redis .metrics .pytest_cache
