"""Generate a cohort in fixed-size chunks and write it as Parquet (or CSV), with the ground
truth (true risk, and true risk under each intervention) in a sidecar file keyed by the row
key: StudentID, or for the higher-ed profile its spec's enrolment key. Memory stays bounded by
the chunk size; output depends only on (rows, seed, profile)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data.ids import student_ids
from data.synthetic import common, higher_ed, realistic, seedlike
from data.truth import truth_path_for

Profile = Literal["realistic", "seed-like", "higher-ed"]
PROFILES: tuple[str, ...] = ("realistic", "seed-like", higher_ed.PROFILE)
# The spec a profile's files follow, for the profiles not written for the built-in one.
PROFILE_SPECS: dict[str, Path] = {higher_ed.PROFILE: higher_ed.SPEC_PATH}
# The interventions a profile's causal model can apply (``--do``); seed-like has none.
PROFILE_INTERVENTIONS: dict[str, tuple[str, ...]] = {
    "realistic": tuple(realistic.INTERVENTIONS),
    "seed-like": (),
    higher_ed.PROFILE: tuple(higher_ed.INTERVENTIONS),
}
CHUNK_ROWS = 250_000
# The truth sidecar's key column (its first): named like the built-in spec's id column.
TRUTH_KEY = "StudentID"


@dataclass(frozen=True)
class GeneratedCohort:
    path: Path
    truth_path: Path
    rows: int
    seed: int
    profile: str
    intervention: str | None
    seconds: float


def _simulate(rng: np.random.Generator, n: int, profile: str, intervention: str | None):
    if profile == "realistic":
        params = realistic.RealisticParams()
        observed, _ = realistic.simulate(rng, n, params, intervention)
        truth = {"true_risk": realistic.true_risk(observed, params)}
        for name in realistic.INTERVENTIONS:
            truth[f"true_risk_{name}"] = realistic.true_risk(observed, params, name)
        return observed, truth
    if profile == "seed-like":
        if intervention is not None:
            raise ValueError(
                "the seed-like profile has no causal model; interventions need --profile "
                "realistic or higher-ed"
            )
        observed = seedlike.simulate(rng, n)
        return observed, {"true_risk": seedlike.true_risk(observed)}
    raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")


def _arrow(observed: dict[str, np.ndarray], ids: list[str]) -> pa.Table:
    arrays = {"StudentID": pa.array(ids, pa.string())}
    for name in common.COLUMNS[1:]:
        values = observed[name]
        if name in common.CATEGORIES:
            arrays[name] = pa.DictionaryArray.from_arrays(
                pa.array(values, pa.int8()), pa.array(common.CATEGORIES[name], pa.string())
            )
        elif values.dtype.kind == "f":
            arrays[name] = pa.array(values, pa.float64())
        else:
            arrays[name] = pa.array(values, pa.int64())
    return pa.table(arrays)


def iter_chunks(
    rows: int, seed: int, profile: str = "realistic", intervention: str | None = None
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Yield (cohort, truth) Arrow tables of at most ``CHUNK_ROWS`` rows each."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
        if profile == higher_ed.PROFILE:
            # Its own schema and key (data/specs/higher_ed.yaml), built by the profile.
            yield higher_ed.tables(rng, n, index, CHUNK_ROWS, rows, seed, intervention)
            continue
        observed, truth = _simulate(rng, n, profile, intervention)
        ids = student_ids(range(start + 1, start + n + 1), rows)
        truth_table = pa.table(
            {
                TRUTH_KEY: pa.array(ids, pa.string()),
                **{k: pa.array(v, pa.float64()) for k, v in truth.items()},
            }
        )
        yield _arrow(observed, ids), truth_table


def generate_frame(
    rows: int, seed: int, profile: str = "realistic", intervention: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The whole cohort in memory as (cohort, truth) DataFrames (for tests and small runs)."""
    cohorts, truths = zip(*iter_chunks(rows, seed, profile, intervention), strict=True)
    cohort = pa.concat_tables(cohorts).to_pandas()
    if profile == higher_ed.PROFILE:
        # Categories as text; a value that is not recorded stays missing (not "nan").
        for name in higher_ed.CATEGORIES:
            cohort[name] = cohort[name].astype(object)
    else:
        for name in common.CATEGORIES:
            cohort[name] = cohort[name].astype(str)
    return cohort, pa.concat_tables(truths).to_pandas()


def write_cohort(
    out: Path,
    rows: int,
    seed: int,
    profile: str = "realistic",
    intervention: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> GeneratedCohort:
    """Write the cohort to ``out`` (``.parquet`` or ``.csv``) and its truth beside it.
    Files are written under a temporary name and renamed, so a failed run leaves no half file."""
    out = Path(out)
    as_csv = out.suffix.lower() == ".csv"
    if not as_csv and out.suffix.lower() != ".parquet":
        raise ValueError(f"output {out} must end in .parquet or .csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    truth_out = truth_path_for(out)
    tmp_out, tmp_truth = (
        out.with_name(out.name + ".part"),
        truth_out.with_name(truth_out.name + ".part"),
    )
    started, done = time.perf_counter(), 0
    writer = truth_writer = None
    try:
        for cohort, truth in iter_chunks(rows, seed, profile, intervention):
            if as_csv:
                cohort = cohort.cast(
                    pa.schema(
                        [
                            pa.field(
                                f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type
                            )
                            for f in cohort.schema
                        ]
                    )
                )
                if writer is None:
                    writer = pacsv.CSVWriter(str(tmp_out), cohort.schema)
            elif writer is None:
                writer = pq.ParquetWriter(str(tmp_out), cohort.schema, compression="zstd")
            if truth_writer is None:
                truth_writer = pq.ParquetWriter(str(tmp_truth), truth.schema, compression="zstd")
            writer.write_table(cohort)
            truth_writer.write_table(truth)
            done += cohort.num_rows
            if on_progress:
                on_progress(done, rows)
    except BaseException:
        for handle in (writer, truth_writer):
            if handle is not None:
                handle.close()
        for path in (tmp_out, tmp_truth):
            path.unlink(missing_ok=True)
        raise
    writer.close()
    truth_writer.close()
    os.replace(tmp_out, out)
    os.replace(tmp_truth, truth_out)
    return GeneratedCohort(
        out, truth_out, rows, seed, profile, intervention, time.perf_counter() - started
    )
