"""Property-based fuzzing of every operation in the app's OpenAPI schema with schemathesis: valid
and invalid inputs sent with a real admin key never get a 5xx, and every response (status code,
content type, headers, body) is the one the schema documents.

The app runs in-process through schemathesis' ASGI transport (lifespan included) rather than
under `sara serve`: no sockets or worker processes, so a few thousand requests fit the CI budget
on two cores, and a server error arrives with its traceback (uvicorn itself is covered by
test_api_server). It serves a private copy of the published workspace, so the fuzzer's audit
entries, reloads and regenerated charts never reach the workspace the other integration tests
share. ``SARA_FUZZ_EXAMPLES`` sets the examples per operation (small in ``make test``, large in
``make fuzz``); ``SARA_FUZZ_COVERAGE=1`` adds the coverage phase."""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from api.keys import KeyStore
from api.main import create_app
from sara.settings import Settings
from tests.integration.conftest import auth

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)
EXAMPLES = int(os.environ.get("SARA_FUZZ_EXAMPLES", "5"))
# The coverage phase sends every boundary and method case the schema defines (about 1,000
# requests, whatever EXAMPLES is): the deep run only.
COVERAGE = os.environ.get("SARA_FUZZ_COVERAGE", "0") == "1"
# Every check runs except whether the schema alone predicts acceptance: the tools validate
# against the served dataset spec (column names and values), parse SQL and enforce
# "exactly one of" rules, none of which a static OpenAPI schema can state, so a schema-valid
# request may rightly get a 422 naming field, value and rule (that body is still checked).
NOT_PREDICTABLE = [positive_data_acceptance, negative_data_rejection]
# Speed is not under test: schemathesis' default 10 s read timeout fails a full equity report
# (all attributes, with charts) on a loaded two-core machine.
NO_DEADLINE_S = 600
# What the fuzz app may not share with the published workspace: its keys, audit log and metrics.
PRIVATE = shutil.ignore_patterns("api-keys.json", "audit.sqlite*", "metrics")


@pytest.fixture(scope="module", params=["student_performance", "higher_ed"])
def fuzz_home(request, schema_workspaces, tmp_path_factory) -> Settings:
    """A copy of a published workspace (model, warehouse, reports) with its own keys: the
    built-in schema's, then the second example schema's (its own columns, composite ids and
    catalogue), so no input reaches a 500 on either."""
    published = schema_workspaces(request.param)
    home = tmp_path_factory.mktemp(f"fuzz-{request.param}") / "ws"
    shutil.copytree(published.home, home, ignore=PRIVATE)
    return published.model_copy(update={"home": home})


@pytest.fixture(scope="module")
def admin_key(fuzz_home) -> str:
    return KeyStore(fuzz_home.keys_path).create("fuzz-admin", "admin")[1]


@pytest.fixture(scope="module")
def responses() -> Counter:
    """(operation, status) → responses seen, logged once the module's fuzzing is done."""
    seen: Counter = Counter()
    yield seen
    log.info(
        "fuzzed %d requests, %d of them 5xx",
        seen.total(),
        sum(n for (_, status), n in seen.items() if status >= 500),
    )
    for operation in sorted({op for op, _ in seen}):
        log.info(
            "%s: %s", operation, {s: n for (op, s), n in sorted(seen.items()) if op == operation}
        )


class Forward:
    """An ASGI app that forwards every call (lifespan included) to ``target``. The operations
    are collected before any fixture runs, so the schema's app is this stand-in and the fixture
    puts the real app behind it."""

    target = None

    async def __call__(self, scope, receive, send):
        await self.target(scope, receive, send)


SERVED = Forward()
# The document the app serves at /openapi.json. Building the app loads nothing (the model and
# warehouse open in its lifespan), so collecting the operations needs no workspace.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
schema.app = SERVED
schema.config.phases.update(phases=["examples", "fuzzing", *(["coverage"] if COVERAGE else [])])


@pytest.fixture(scope="module")
def served(fuzz_home):
    """The app on the private workspace behind the schema's stand-in; schemathesis runs its
    lifespan on the first request and the teardown closes its model and warehouse."""
    SERVED.target = create_app(fuzz_home)
    yield
    shutdown_lifespans()
    SERVED.target = None


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_within_its_documented_contract(case, served, admin_key, responses):
    # Both ways of sending the key, so a generated `X-API-Key` never replaces the admin key.
    headers = {**auth(admin_key), "X-API-Key": admin_key}
    response = case.call_and_validate(
        headers=headers, excluded_checks=NOT_PREDICTABLE, timeout=NO_DEADLINE_S
    )
    responses[(f"{case.method} {case.path}", response.status_code)] += 1


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(api, role_keys):
    response = api.post(
        "/v1/score",
        content=b'{"student_ids": ["S\xff"]}',
        headers={**auth(role_keys["staff"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["field"] == "body"
    assert "UTF-8" in error["message"]
