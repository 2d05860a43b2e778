# Shuqiao — the two README commands do all their own set-up.
PY       ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
DEMO_DIR ?= .demo
SCALE    ?= 100000
PORT     ?= 8080

.PHONY: demo test lint unit bench clean venv services-up services-down services-status

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,fast]'
	touch $@

# Builds the demo world (once), walks through the scenarios, then serves it on 127.0.0.1:8080
# for any Trino client until interrupted.
demo: venv
	test -f $(DEMO_DIR)/shuqiao.toml || $(BIN)/shuqiao demo init --data-dir $(DEMO_DIR) --scale $(SCALE)
	$(BIN)/shuqiao demo walkthrough --config $(DEMO_DIR)/shuqiao.toml
	$(BIN)/shuqiao demo --data-dir $(DEMO_DIR) --port $(PORT)

lint: venv
	$(BIN)/ruff check gateway catalog connectors tests bench
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q

# The suite needs real PostgreSQL, MariaDB and Trino: started here, stopped whatever happens.
test: lint
	deploy/local/services.sh up
	$(BIN)/pytest -q; rc=$$?; deploy/local/services.sh down; exit $$rc

services-up:
	deploy/local/services.sh up

services-down:
	deploy/local/services.sh down

services-status:
	deploy/local/services.sh status

# The pure-Python sqlglot build, to measure what the compiled one (sqlglotc) buys.
.venv-pure/.installed: pyproject.toml
	test -x .venv-pure/bin/python || $(PY) -m venv .venv-pure
	.venv-pure/bin/pip install -q -e .
	touch $@

bench: venv .venv-pure/.installed
	$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/pip install -q matplotlib
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-pure $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
