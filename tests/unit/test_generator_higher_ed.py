"""The higher-ed profile: a second schema (composite key, repeated students, a band with
missing values) that its own specs accept whole, with a truth sidecar keyed like the
validated rows and an oracle that agrees with simulated outcomes."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from data.catalogue import apply_moves, load_catalogue
from data.ingest import ingest
from data.spec import load_spec
from data.synthetic import cohort as cohort_module
from data.synthetic import common, higher_ed
from data.synthetic.cohort import PROFILE_SPECS, PROFILES, generate_frame, write_cohort
from sara.settings import Settings

PROFILE = "higher-ed"
SPECS = ("data/specs/higher_ed.yaml", "data/specs/higher_ed_no_actions.yaml")
AT_RISK = ["Fail", "Withdrawn"]


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_frame(6000, seed=11, profile=PROFILE)


def test_the_profile_is_registered_with_its_spec():
    assert PROFILE in PROFILES
    assert Settings(generate_profile=PROFILE).generate_profile == PROFILE
    spec = load_spec(PROFILE_SPECS[PROFILE])
    assert spec.name == "higher_ed"
    assert spec.key_column == higher_ed.KEY_NAME
    assert spec.key_separator == higher_ed.KEY_SEPARATOR
    assert spec.id_parts == higher_ed.ID_PARTS


def test_same_seed_same_cohort_and_different_seed_differs(cohort):
    frame, truth = cohort
    again, truth_again = generate_frame(6000, seed=11, profile=PROFILE)
    other, _ = generate_frame(6000, seed=12, profile=PROFILE)
    pd.testing.assert_frame_equal(frame, again)
    pd.testing.assert_frame_equal(truth, truth_again)
    assert not frame["id_student"].equals(other["id_student"])
    assert not frame["vle_clicks_per_week"].equals(other["vle_clicks_per_week"])


def test_the_key_is_unique_across_chunks_while_students_repeat(monkeypatch):
    monkeypatch.setattr(cohort_module, "CHUNK_ROWS", 700)
    frame, truth = generate_frame(3000, seed=4, profile=PROFILE)
    assert len(frame) == 3000
    assert not frame.duplicated(list(higher_ed.ID_PARTS)).any()
    assert frame["id_student"].duplicated().mean() > 0.3
    per_student = frame.groupby("id_student").size()
    assert per_student.between(1, 3).all()
    # A student's background is the same on every row of theirs.
    background = ["sex", "age_band", "disability", "region", "highest_education"]
    assert (frame.groupby("id_student")[background].nunique() == 1).all().all()
    ids = frame["id_student"]
    assert ids.str.fullmatch(r"\d{6}").all() and ids.str.startswith("0").any()
    assert not truth[higher_ed.KEY_NAME].duplicated().any()


def test_base_rate_and_missing_deprivation_bands(cohort):
    frame, truth = cohort
    at_risk = frame["final_result"].isin(AT_RISK)
    assert 0.35 <= at_risk.mean() <= 0.45
    assert set(frame["final_result"]) == set(higher_ed.RESULTS)
    missing = frame["imd_band"].isna()
    assert 0.02 < missing.mean() < 0.09
    assert set(frame.loc[~missing, "imd_band"]) == set(higher_ed.IMD_BANDS)
    assert truth["true_risk"].between(0, 1).all()


def test_no_built_in_column_name_is_reused(cohort):
    frame, _ = cohort
    built_in = {name.lower() for name in [*load_spec(None).column_names, *common.COLUMNS]}
    assert not built_in & {name.lower() for name in frame.columns}
    assert list(frame.columns) == list(higher_ed.COLUMNS)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_both_specs_accept_every_row_and_the_truth_follows_the_key(tmp_path, suffix):
    result = write_cohort(tmp_path / f"cohort{suffix}", 2500, seed=9, profile=PROFILE)
    truth = pq.read_table(result.truth_path).to_pandas()
    for path in SPECS:
        spec = load_spec(path)
        report = ingest(result.path, spec, tmp_path / "quarantine")
        assert report.n_valid == 2500 and report.n_quarantined == 0
        assert report.ids_assigned == 0
        assert truth.columns[0] == spec.key_column
        assert truth[spec.key_column].tolist() == report.valid[spec.key_column].tolist()
        # Ids keep their leading zeros, also through CSV.
        assert report.valid["id_student"].str.startswith("0").any()
        assert report.valid["imd_band"].isna().any()
        assert 0.35 <= spec.outcome.label(report.valid).mean() <= 0.45
    expected = {"true_risk", *(f"true_risk_{name}" for name in higher_ed.INTERVENTIONS)}
    assert set(truth.columns[1:]) == expected


def test_the_catalogue_moves_are_the_do_operations(cohort):
    frame, _ = cohort
    spec = load_spec(SPECS[0])
    catalogue = load_catalogue(spec)
    assert catalogue.names == list(higher_ed.INTERVENTIONS)
    assert load_spec(SPECS[1]).interventions is None and not load_spec(SPECS[1]).actionable
    columns = {c: frame[c].to_numpy() for c in spec.actionable}
    for intervention in catalogue.interventions:
        moved = apply_moves(frame, intervention, spec)
        done = higher_ed.do_moves(columns, intervention.name, higher_ed.HigherEdParams())
        for column in spec.actionable:
            np.testing.assert_allclose(moved[column].to_numpy(dtype=float), done[column])


def test_oracle_is_calibrated_and_matches_simulated_interventions():
    n, seed = 40_000, 3
    frame, truth = generate_frame(n, seed, PROFILE)
    at_risk = frame["final_result"].isin(AT_RISK).to_numpy()
    se = np.sqrt(0.25 / n)
    assert at_risk.mean() == pytest.approx(truth["true_risk"].mean(), abs=4 * se)
    bins = pd.qcut(truth["true_risk"], 5, labels=False)
    by_bin = pd.DataFrame({"y": at_risk, "p": truth["true_risk"]}).groupby(bins).mean()
    assert (by_bin["y"] - by_bin["p"]).abs().max() < 4 * np.sqrt(0.25 / (n / 5))
    for name in higher_ed.INTERVENTIONS:
        treated, treated_truth = generate_frame(n, seed, PROFILE, intervention=name)
        realised = treated["final_result"].isin(AT_RISK).to_numpy()
        assert (treated["id_student"] == frame["id_student"]).all()
        assert realised.mean() < at_risk.mean()
        assert not (realised & ~at_risk).any()  # helping never hurts anyone here
        expected = truth[f"true_risk_{name}"].mean()
        assert realised.mean() == pytest.approx(expected, abs=4 * se)
        np.testing.assert_allclose(treated_truth["true_risk"], truth[f"true_risk_{name}"])


def test_unknown_interventions_are_refused():
    with pytest.raises(ValueError, match="unknown intervention"):
        generate_frame(10, seed=1, profile=PROFILE, intervention="tutoring")
