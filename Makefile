# SARA: `make run` sets everything up and starts SARA; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
STAMP := $(VENV)/.installed-$(EXTRAS)
ARTIFACTS := test-artifacts

.PHONY: install run test eval lint format clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# compat mode puts the repo itself on sys.path, so SARA's `tools` package wins over the
	# stray top-level `tools` folder another dependency (cron-descriptor) installs.
	$(BIN)/python -m pip install --quiet -c constraints.txt \
		--config-settings editable_mode=compat -e '.[$(EXTRAS)]'
	$(BIN)/python -m pip check
	@touch $@

install: $(STAMP)

run: install
	$(BIN)/sara data generate --keep-existing
	$(BIN)/sara pipeline run
	@echo "Local admin API key (development only; \`sara keys local\` prints it again; sign in at /ui with it):"
	@$(BIN)/sara keys local
	$(BIN)/sara serve

test: install
	@mkdir -p $(ARTIFACTS)
	$(BIN)/python -m pytest --junitxml=$(ARTIFACTS)/junit.xml $(PYTEST_ARGS)
	$(BIN)/python .ci/assert_tests_ran.py $(ARTIFACTS)/junit.xml

eval: install  # the full evaluation of the assistant on the default workspace
	$(BIN)/sara data generate --keep-existing
	$(BIN)/sara pipeline status >/dev/null 2>&1 || $(BIN)/sara pipeline run
	$(BIN)/sara eval

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(ARTIFACTS) .pytest_cache .ruff_cache
