# SARA: `make run` sets everything up and starts SARA; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make run` installs what SARA needs to run; `make test` adds the test tools, Airflow (the DAG
# test) and pyspark (the batch-scoring test).
RUN_EXTRAS ?=
TEST_EXTRAS ?= dev,spark
ARTIFACTS := test-artifacts

.PHONY: install install-test run test fuzz eval bench soak lint format clean

# compat mode puts the repo itself on sys.path, so SARA's `tools` package wins over the stray
# top-level `tools` folder another dependency (cron-descriptor) installs.
define pip_install
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt \
		--config-settings editable_mode=compat -e '.$(if $(1),[$(1)])'
	$(BIN)/python -m pip check
	@touch $@
endef

$(VENV)/.installed-run: pyproject.toml constraints.txt
	$(call pip_install,$(RUN_EXTRAS))

$(VENV)/.installed-test: pyproject.toml constraints.txt
	$(call pip_install,$(TEST_EXTRAS))

install: $(VENV)/.installed-run

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/sara data generate --keep-existing
	$(BIN)/sara pipeline run
	@echo "Local admin API key (development only; \`sara keys local\` prints it again; sign in at /ui with it):"
	@$(BIN)/sara keys local
	$(BIN)/sara serve

test: install-test
	@mkdir -p $(ARTIFACTS)
	$(BIN)/python -m pytest --junitxml=$(ARTIFACTS)/junit.xml $(PYTEST_ARGS)
	$(BIN)/python .ci/assert_tests_ran.py $(ARTIFACTS)/junit.xml

# The API fuzz test `make test` runs with a few examples per operation, run deep: FUZZ_EXAMPLES
# per operation plus schemathesis' coverage phase (every boundary case the schema defines).
FUZZ_EXAMPLES ?= 500
fuzz: install-test
	SARA_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SARA_FUZZ_COVERAGE=1 $(BIN)/python -m pytest \
		tests/integration/test_fuzz.py -p no:cacheprovider -v --log-cli-level=INFO $(PYTEST_ARGS)

eval: install  # the full evaluation of the assistant on the default workspace
	$(BIN)/sara data generate --keep-existing
	$(BIN)/sara pipeline status >/dev/null 2>&1 || $(BIN)/sara pipeline run
	$(BIN)/sara eval

bench: install-test  # the full benchmark suite (about 25 min here); results in benchmarks/results/
	$(BIN)/sara bench

soak: install-test  # risk, explanation and chat under wrk, then 10 minutes of mixed soak (RSS) after 20 of warm-up
	$(BIN)/sara bench load --soak-minutes 10 --warmup-minutes 20

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(ARTIFACTS) .pytest_cache .ruff_cache
