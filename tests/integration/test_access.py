"""Who sees student data, and where it could leak: every student-level read leaves an audit
entry (never the raw key), keys are checked in constant time, and no student id or record value
reaches the server's logs or its metric labels."""

from __future__ import annotations

import hmac
import json
import re

import httpx
import pytest

from api.keys import KeyStore
from tests.integration.conftest import auth, sara_serve
from tests.integration.test_api import RECORD_DROP, ROUTES, STUDENT
from tests.timeouts import HTTP_TIMEOUT_S
from tools import TOOLS_BY_NAME

pytestmark = pytest.mark.integration

STUDENT_ID = re.compile(r"S\d{7}")
# The routes whose answer is about individual students; each must be audited.
STUDENT_LEVEL_ROUTES = {
    f"/v1/students/{STUDENT}/risk", f"/v1/students/{STUDENT}/explanation",
    "/v1/students?level=High&limit=3", "/v1/score", "/v1/interventions/compare",
    "/v1/interventions/plan", "/v1/chat",
} | {f"/v1/tools/{name}" for name, tool in TOOLS_BY_NAME.items() if tool.student_level}  # fmt: skip


def _lowest_key(role_keys: dict[str, str], lowest: str) -> str:
    return role_keys[lowest]


def test_the_student_level_route_list_is_complete():
    """Every keyed route is either in the audited list or reads aggregates only."""
    aggregate = {path.split("?")[0] for _, path, _, lowest in ROUTES
                 if path not in STUDENT_LEVEL_ROUTES}  # fmt: skip
    assert aggregate == {
        "/v1/equity/query", "/v1/equity/summary", "/v1/model", "/v1/model/reload", "/v1/audit",
        "/v1/equity/charts/missing.png", "/v1/tools/query_equity", "/v1/tools/equity_summary",
        "/v1/tools/model_info",
    }  # fmt: skip


# The role table's run_sql counts rows; here it reads students.
AUDITED = [(m, p, {"sql": "SELECT student_id, risk_score FROM scores LIMIT 3"}
            if p.endswith("run_sql") else b, lowest)
           for m, p, b, lowest in ROUTES if p in STUDENT_LEVEL_ROUTES]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "lowest"), AUDITED)
def test_every_student_level_read_is_audited_without_the_key(
    api, role_keys, published, method, path, body, lowest
):
    audit = api.app.state.runtime.audit
    before = audit.entries(limit=1)
    last = before[0].id if before else 0
    key = _lowest_key(role_keys, lowest)
    response = api.request(method, path, json=body, headers=auth(key))
    assert response.status_code == 200, response.text[:300]
    new = [e for e in audit.entries(limit=20) if e.id > last]
    assert new, f"{method} {path} left no audit entry"
    entry = new[-1]
    assert entry.route == path.split("?")[0].replace(STUDENT, "{student_id}")
    assert entry.role == lowest and entry.key_name == f"test-{lowest}" and entry.status == 200
    assert entry.n_students >= 1 and all(STUDENT_ID.fullmatch(s) for s in entry.student_ids)
    raw = published.audit_path.read_bytes()
    assert key.encode() not in raw and key.split("_")[-1].encode() not in raw


def test_keys_are_compared_in_constant_time_whether_or_not_the_id_exists(
    published, role_keys, monkeypatch
):
    """The hash of the presented key is compared with hmac.compare_digest for a known id, an
    unknown id and a malformed key alike, so timing does not tell which ids exist."""
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    store = KeyStore(published.keys_path)
    known = role_keys["staff"]
    forged = known[:-4] + ("AAAA" if not known.endswith("AAAA") else "BBBB")
    unknown = "sara_ffffffff_" + known.split("_")[-1]
    for token, ok in [(known, True), (forged, False), (unknown, False), ("not-a-key", False)]:
        compared.clear()
        assert (store.authenticate(token) is not None) is ok
        assert len(compared) == 1, token
        presented, stored = compared[0]
        assert len(presented) == len(stored) == 64  # SHA-256 hex digests, never the raw key
    stored_file = published.keys_path.read_text(encoding="utf-8")
    assert not any(k in stored_file for k in role_keys.values())


def test_no_student_data_in_logs_or_metric_labels(published, role_keys, ctx, monkeypatch):
    """A real server logging in JSON at INFO serves student-level reads, errors that name a
    student, chat about a student and bad records; afterwards neither what it printed nor
    /metrics holds a student id, a raw key or a value from a record."""
    frame = ctx.sql(f"SELECT * FROM students WHERE StudentID = '{STUDENT}'")
    record = json.loads(frame.drop(columns=RECORD_DROP).to_json(orient="records"))[0]
    marker = "Zyxwvut-9731"  # a value no log line would hold by chance
    monkeypatch.setenv("SARA_LOG_FORMAT", "json")
    monkeypatch.setenv("SARA_LOG_LEVEL", "INFO")
    staff, analyst = auth(role_keys["staff"]), auth(role_keys["analyst"])
    with sara_serve(published) as served:
        base = served.base
        calls = [
            ("GET", f"/v1/students/{STUDENT}/risk", None, staff),
            ("GET", f"/v1/students/{STUDENT}/explanation", None, staff),
            ("GET", "/v1/students/S9999998/risk", None, staff),  # 404 naming the id
            ("GET", f"/v1/students/{STUDENT}/nothing", None, staff),  # unmatched route
            ("POST", "/v1/score", {"records": [record]}, staff),
            ("POST", "/v1/score", {"records": [{**record, "Locale": marker}]}, staff),
            ("POST", "/v1/chat", {"question": f"Why is {STUDENT} high risk?"}, staff),
            ("POST", "/v1/chat", {"question": f"What would help S9999997 and {marker}?"}, staff),
            ("POST", "/v1/tools/run_sql", {"sql": f"SELECT * FROM scores WHERE student_id = "
                                                  f"'{STUDENT}'"}, analyst),
            ("POST", "/v1/tools/run_sql", {"sql": f"DROP TABLE {marker}"}, analyst),
            ("GET", f"/v1/students/{STUDENT}/risk", None, auth("sara_0000_bad")),
        ]  # fmt: skip
        statuses = []
        for method, path, body, headers in calls:
            response = httpx.request(
                method, base + path, json=body, headers=headers, timeout=HTTP_TIMEOUT_S
            )
            statuses.append(response.status_code)
        metrics = httpx.get(f"{base}/metrics", timeout=HTTP_TIMEOUT_S).text
    assert statuses == [200, 200, 404, 404, 200, 422, 200, 200, 200, 422, 401], statuses
    # The server did log (so an empty output cannot pass): JSON lines with their fields.
    lines = [json.loads(line) for line in served.output.splitlines() if line.startswith("{")]
    assert any(e.get("msg") == "chat answered" and "outcome" in e for e in lines), served.output
    for text, where in ((served.output, "logs"), (metrics, "metrics")):
        assert not STUDENT_ID.findall(text), (where, STUDENT_ID.findall(text)[:5])
        assert marker not in text, where
        assert not any(k in text for k in role_keys.values()), where
    labels = re.findall(r'(\w+)="([^"]*)"', metrics)
    routes = {value for name, value in labels if name == "route"}
    assert "/v1/students/{student_id}/risk" in routes and "unmatched" in routes
    assert all("{" in r or not re.search(r"\d{4,}", r) for r in routes), routes
