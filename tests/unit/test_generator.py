"""The generator: deterministic, chunked, valid against the spec, atomic on failure."""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from data.ingest import ingest
from data.spec import load_spec
from data.synthetic import cohort as cohort_module
from data.synthetic.cohort import generate_frame, write_cohort
from data.synthetic.realistic import INTERVENTIONS
from data.truth import truth_path_for


@pytest.mark.parametrize("profile", ["realistic", "seed-like"])
def test_same_seed_same_cohort_and_different_seed_differs(profile):
    first, truth = generate_frame(2000, seed=5, profile=profile)
    again, truth_again = generate_frame(2000, seed=5, profile=profile)
    other, _ = generate_frame(2000, seed=6, profile=profile)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(truth, truth_again)
    assert not first["GPA"].equals(other["GPA"])


def test_chunks_join_into_one_cohort_with_contiguous_ids(monkeypatch):
    monkeypatch.setattr(cohort_module, "CHUNK_ROWS", 300)
    frame, truth = generate_frame(1000, seed=1)
    assert frame["StudentID"].tolist() == [f"S{i:07d}" for i in range(1, 1001)]
    assert truth["StudentID"].tolist() == frame["StudentID"].tolist()
    again, _ = generate_frame(1000, seed=1)
    pd.testing.assert_frame_equal(frame, again)


@pytest.mark.parametrize("profile", ["realistic", "seed-like"])
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_written_cohorts_pass_the_data_contract(tmp_path, profile, suffix):
    result = write_cohort(tmp_path / f"cohort{suffix}", 3000, seed=9, profile=profile)
    report = ingest(result.path, load_spec(), tmp_path / "quarantine")
    assert report.n_valid == 3000 and report.n_quarantined == 0 and report.ids_assigned == 0
    assert (report.valid["Grade"] == report.valid["Age"].clip(upper=17) - 5).all()
    truth = pq.read_table(result.truth_path).to_pandas()
    assert truth["StudentID"].tolist() == report.valid["StudentID"].tolist()
    assert truth["true_risk"].between(0, 1).all()
    if profile == "realistic":
        expected = {"StudentID", "true_risk"} | {f"true_risk_{n}" for n in INTERVENTIONS}
        assert set(truth.columns) == expected


def test_a_failed_run_leaves_no_half_written_files(tmp_path, monkeypatch):
    monkeypatch.setattr(cohort_module, "CHUNK_ROWS", 100)
    calls = {"n": 0}
    real = cohort_module._simulate

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(*args)

    monkeypatch.setattr(cohort_module, "_simulate", flaky)
    out = tmp_path / "cohort.parquet"
    with pytest.raises(OSError, match="disk full"):
        write_cohort(out, 1000, seed=1)
    assert list(tmp_path.iterdir()) == []


def test_bad_generator_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.parquet or \.csv"):
        write_cohort(tmp_path / "cohort.xlsx", 10, seed=1)
    with pytest.raises(ValueError, match="unknown profile"):
        generate_frame(10, seed=1, profile="fancy")
    with pytest.raises(ValueError, match="no causal model"):
        generate_frame(10, seed=1, profile="seed-like", intervention="tutoring")
    with pytest.raises(ValueError, match="unknown intervention"):
        generate_frame(10, seed=1, intervention="magic")
    with pytest.raises(ValueError, match="at least 1"):
        generate_frame(0, seed=1)


def test_truth_sidecar_sits_beside_the_cohort(tmp_path):
    assert truth_path_for(tmp_path / "cohort.parquet") == tmp_path / "cohort.truth.parquet"
    assert truth_path_for(tmp_path / "x.csv") == tmp_path / "x.truth.parquet"
