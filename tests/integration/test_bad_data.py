"""Bad input files fed to `sara pipeline run` on a workspace that already serves a champion:
each gets a clear error (file, column, rule) and a non-zero exit without a traceback, while the
published warehouse, the champion alias, the earlier quarantine and the running API stay as
they were. Files that are valid but unusual (UTF-16 with a byte-order mark, latin-1 named with
--encoding) are read correctly instead."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import registry
from pipeline.run import run_pipeline
from sara.settings import Settings
from tests.timeouts import PIPELINE_TIMEOUT_S

pytestmark = pytest.mark.integration

# Every run trains one candidate only: the runs under test stop before or without training.
FAST = ("logreg",)
FAST_ENV = '["logreg"]'
GARBAGE_ROWS = 1_000_000
# Re-runs the CLI with its peak memory and wall time printed on exit, measured inside it.
# VmHWM is this program's own peak; ru_maxrss can carry the forking parent's peak over exec.
MEASURED_CLI = """
import atexit, re, resource, sys, time
from pathlib import Path
started = time.perf_counter()
def report():
    hwm = re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"PEAK_RSS_KB={hwm} RU_MAXRSS_KB={usage.ru_maxrss} "
          f"SECONDS={time.perf_counter() - started:.2f}", file=sys.stderr)
atexit.register(report)
from sara.cli import app
app(prog_name="sara")
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Workspace:
    def __init__(self, settings: Settings, good_csv: Path, folder: Path):
        self.settings, self.good_csv, self.folder = settings, good_csv, folder

    def champion(self) -> str:
        client = registry.configure(self.settings)
        return registry.champion_info(client, self.settings.model_name).version

    def snapshot(self) -> dict:
        quarantine = self.settings.quarantine_dir
        return {
            "warehouse": _sha(self.settings.warehouse_path),
            "champion": self.champion(),
            "quarantine": {p.name: _sha(p) for p in quarantine.iterdir()},
        }

    def run_cli(self, *args: str, measured: bool = False) -> subprocess.CompletedProcess:
        env = {**os.environ, "SARA_HOME": str(self.settings.home), "SARA_CANDIDATES": FAST_ENV}
        entry = ["-c", MEASURED_CLI] if measured else ["-m", "sara.cli"]
        return subprocess.run(
            [sys.executable, *entry, "pipeline", "run", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=PIPELINE_TIMEOUT_S,
        )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    """A workspace whose last good run read a CSV with five bad rows (so it has a quarantine)."""
    folder = tmp_path_factory.mktemp("bad-data")
    settings = Settings(home=folder / "ws", candidates=FAST)
    run_pipeline(settings, generate=2000, progress=lambda _: None)
    cohort = pd.read_parquet(settings.default_cohort_path).astype(object)
    cohort.loc[1, "AttendanceRate"] = "often"
    cohort.loc[2, "Race"] = "Hispánic"  # not a category; its accent tests encodings below
    cohort.loc[3, "Age"] = 99
    cohort.loc[4, "Gender"] = "?"
    cohort.loc[5, "GPA"] = 7.5
    good_csv = folder / "cohort.csv"
    cohort.to_csv(good_csv, index=False)
    result = run_pipeline(settings, data=good_csv, progress=lambda _: None)
    assert result.quarantined == 5
    assert any(settings.quarantine_dir.glob("cohort-*.issues.csv"))
    return Workspace(settings, good_csv, folder)


@pytest.fixture(scope="module")
def serving(workspace):
    """The app serving the workspace, with a staff key and one student's published score."""
    from fastapi.testclient import TestClient

    from api.keys import KeyStore
    from api.main import create_app

    key = KeyStore(workspace.settings.keys_path).create("bad-data", "staff")[1]
    with TestClient(create_app(workspace.settings)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        path = "/v1/students/S0000010/risk"
        before = client.get(path, headers=headers)
        assert before.status_code == 200, before.text
        yield lambda: client.get(path, headers=headers), before.json()


def _assert_refused(done: subprocess.CompletedProcess, *phrases: str) -> str:
    """Non-zero exit, no traceback, and one `error:` line holding every phrase."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    return errors[0]


def _assert_nothing_changed(workspace: Workspace, before: dict, serving) -> None:
    after = workspace.snapshot()
    assert after["warehouse"] == before["warehouse"]
    assert after["champion"] == before["champion"]
    for name, digest in before["quarantine"].items():
        assert after["quarantine"].get(name) == digest, f"quarantine file {name} changed"
    fetch, published = serving
    now = fetch()
    assert now.status_code == 200, now.text
    assert now.json() == published


def _write_spec(folder: Path, name: str, change) -> Path:
    from data.spec import BUILTIN_SPEC
    from data.specs import __file__ as specs_init

    specs = Path(specs_init).parent
    spec = yaml.safe_load((specs / f"{BUILTIN_SPEC}.yaml").read_text())
    # A copied spec keeps its catalogue by naming it where it is (a relative path would be
    # read from the copy's folder).
    spec["interventions"] = str(specs / spec["interventions"])
    change(spec)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _column(spec: dict, name: str) -> dict:
    return next(c for c in spec["columns"] if c["name"] == name)


def _truncated_parquet(ws: Workspace) -> Path:
    raw = ws.settings.default_cohort_path.read_bytes()
    path = ws.folder / "truncated.parquet"
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _random_parquet(ws: Workspace) -> Path:
    path = ws.folder / "random.parquet"
    path.write_bytes(np.random.default_rng(1).bytes(50_000))
    return path


def _nul_bytes(ws: Workspace) -> Path:
    text = ws.good_csv.read_bytes()
    path = ws.folder / "nul.csv"
    path.write_bytes(text[:2000].replace(b",", b"\x00", 30) + text[2000:])
    return path


def _binary(ws: Workspace) -> Path:
    path = ws.folder / "binary.csv"
    path.write_bytes(np.random.default_rng(2).bytes(100_000))
    return path


def _empty(ws: Workspace) -> Path:
    path = ws.folder / "empty.csv"
    path.write_bytes(b"")
    return path


def _header_only(ws: Workspace) -> Path:
    path = ws.folder / "header-only.csv"
    path.write_text(ws.good_csv.read_text().splitlines()[0] + "\n")
    return path


REFUSED = {
    "truncated-parquet": (_truncated_parquet, ("truncated.parquet", "not a readable Parquet")),
    "random-bytes-parquet": (_random_parquet, ("random.parquet", "not a readable Parquet")),
    "nul-bytes": (_nul_bytes, ("nul.csv", "NUL bytes", "--encoding")),
    "binary": (_binary, ("binary.csv", "NUL bytes")),
    "empty": (_empty, ("empty.csv", "empty")),
    "header-only": (_header_only, ("header-only.csv", "no rows")),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unreadable_input_is_refused_and_nothing_changes(workspace, serving, case):
    make, phrases = REFUSED[case]
    source = make(workspace)
    before = workspace.snapshot()
    _assert_refused(workspace.run_cli("--data", str(source)), *phrases)
    _assert_nothing_changed(workspace, before, serving)


def test_spec_with_other_categories_stops_at_the_quality_gate(workspace, serving):
    spec = _write_spec(
        workspace.folder,
        "gender-codes",
        lambda s: _column(s, "Gender").update(categories=["F", "M"]),
    )
    before = workspace.snapshot()
    line = _assert_refused(
        workspace.run_cli("--data", str(workspace.good_csv), "--spec", str(spec)),
        "cohort.csv",
        "failed validation",
        "Gender: must be one of: F, M",
    )
    assert "'Female'" in line or "'Male'" in line  # an example of the offending value
    _assert_nothing_changed(workspace, before, serving)
    written = set(workspace.snapshot()["quarantine"]) - set(before["quarantine"])
    assert any(name.endswith(".issues.csv") for name in written)  # this run's own quarantine


def test_spec_with_another_type_stops_at_the_quality_gate(workspace, serving):
    def locale_as_number(spec):
        column = _column(spec, "Locale")
        column.pop("categories")
        column["dtype"] = "int"

    spec = _write_spec(workspace.folder, "locale-int", locale_as_number)
    before = workspace.snapshot()
    _assert_refused(
        workspace.run_cli("--data", str(workspace.good_csv), "--spec", str(spec)),
        "cohort.csv",
        "Locale: must be a number",
    )
    _assert_nothing_changed(workspace, before, serving)


def test_spec_naming_columns_the_file_lacks_is_refused(workspace, serving):
    spec = _write_spec(
        workspace.folder,
        "homeroom",
        lambda s: s["columns"].append(
            {"name": "Homeroom", "dtype": "string", "role": "context", "label": "homeroom"}
        ),
    )
    before = workspace.snapshot()
    _assert_refused(
        workspace.run_cli("--data", str(workspace.good_csv), "--spec", str(spec)),
        "cohort.csv",
        "missing column(s): Homeroom",
    )
    _assert_nothing_changed(workspace, before, serving)


def test_million_rows_of_garbage_fail_on_the_header(workspace, serving, record_property):
    path = workspace.folder / "garbage.csv"
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "u1")
    columns = 21
    with path.open("wb") as handle:
        handle.write((",".join(f"junk_{i}" for i in range(columns)) + "\n").encode())
        for _ in range(GARBAGE_ROWS // 100_000):
            cells = letters[rng.integers(0, len(letters), size=(100_000, columns, 8))]
            ends = np.full((100_000, columns, 1), ord(","), dtype="u1")
            ends[:, -1, 0] = ord("\n")
            handle.write(np.concatenate([cells, ends], axis=2).tobytes())
    before = workspace.snapshot()
    done = workspace.run_cli("--data", str(path), measured=True)
    _assert_refused(done, "garbage.csv", "missing column(s): Age", "unexpected column(s): junk_0")
    _assert_nothing_changed(workspace, before, serving)
    measured = next(line for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB="))
    record_property("garbage_csv_cli", measured)
    print(f"\n1,000,000-row garbage CSV ({path.stat().st_size:,} bytes): {measured}")


def test_utf16_with_byte_order_mark_is_read_as_the_same_data(workspace, serving):
    path = workspace.folder / "utf16.csv"
    path.write_bytes(workspace.good_csv.read_text().encode("utf-16"))
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    before = workspace.snapshot()
    done = workspace.run_cli("--data", str(path))
    assert done.returncode == 0, done.stderr
    # The same students as the published run, so nothing is retrained or republished.
    assert "Pipeline: unchanged" in done.stdout, done.stdout
    _assert_nothing_changed(workspace, before, serving)
    written = set(workspace.snapshot()["quarantine"]) - set(before["quarantine"])
    assert any(name.startswith("utf16-") for name in written)


def test_latin1_needs_encoding_then_reads_accents(workspace, serving):
    path = workspace.folder / "latin1.csv"
    path.write_bytes(workspace.good_csv.read_text().encode("latin-1"))
    before = workspace.snapshot()
    _assert_refused(workspace.run_cli("--data", str(path)), "latin1.csv", "not UTF-8", "--encoding")
    _assert_nothing_changed(workspace, before, serving)

    done = workspace.run_cli("--data", str(path), "--encoding", "latin-1")
    assert done.returncode == 0, done.stderr
    assert "Pipeline: unchanged" in done.stdout, done.stdout
    _assert_nothing_changed(workspace, before, serving)
    issues = sorted(workspace.settings.quarantine_dir.glob("latin1-*.issues.csv"))
    assert issues, "the run quarantined the bad rows in its own file"
    table = pd.read_csv(issues[-1])
    assert "Hispánic" in set(table.loc[table["column"] == "Race", "value"])
