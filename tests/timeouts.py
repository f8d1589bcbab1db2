"""How long the tests wait, in one place. Each figure bounds how long a test waits before it
calls something hung or broken; none measures speed (how fast SARA answers is a benchmark
figure, `sara bench`, never a test). They are generous on purpose: the suite must pass on a
machine whose other cores are busy, where every step takes several times as long as it does
on an idle one."""

from __future__ import annotations

# One HTTP request to a server on 127.0.0.1 (`sara serve`, Prometheus): a chat answer, a full
# equity report or a batch of scores takes seconds on an idle machine. httpx's own default
# (5 s for every phase) would fail such a request on a busy one, so no test relies on it.
HTTP_TIMEOUT_S = 180

# The LLM client's limit in tests whose fake endpoint answers at once: the answer, not the
# client's timeout, is under test there.
LLM_TIMEOUT_S = 180

# A server a test starts comes up and answers its health route: `sara serve` (imports, model,
# warehouse), `mlflow server` (store migration), Prometheus (its first scrapes).
SERVER_START_TIMEOUT_S = 300

# A terminated or killed process exits and its remaining output can be read.
STOP_TIMEOUT_S = 120

# A short command in a subprocess: `--help`, an import probe, installing a built wheel.
COMMAND_TIMEOUT_S = 600

# A pipeline, Airflow or wheel build run in a subprocess: about a minute on an idle machine; the
# bound only stops a hung run from holding CI.
PIPELINE_TIMEOUT_S = 1800

# Every action, navigation and `expect()` assertion in the browser test (Playwright's own
# defaults are 30 s for actions and 5 s for `expect`).
BROWSER_TIMEOUT_MS = 180_000

# pytest-timeout's per-test limit (pyproject.toml, 10 min) is the suite's hang guard, and it
# counts fixture set-up: the first test to use the shared published workspace also waits for
# the pipeline that builds it, and a test's own bounds above add up past 10 min. The integration
# tier, which runs real pipelines, servers and Airflow, gets this limit instead
# (tests/integration/conftest.py); the unit tier keeps pyproject's.
INTEGRATION_TEST_TIMEOUT_S = 3 * PIPELINE_TIMEOUT_S
