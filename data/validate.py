"""Validation generated from the spec (pandera): a row-level report of every broken rule.

Wrong or missing columns stop the whole table with one message. Otherwise each bad value
becomes an issue (row, column, value, rule), its row goes to quarantine, and the valid rows
go on typed. Nothing is dropped silently: valid + quarantined = rows read.

Every valid row carries the spec's key column (``spec.key_column``), a string that identifies
it: the id column, or the parts of a composite id joined, or generated ids. How repeated ids
are handled is the spec's ``repeated_ids``: rejected (quarantined after their first row), or
numbered as enrolments (``id#2``, ``id#3``, … in file order)."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from data.ids import RULE_ID_CHARS, enrolment_ids, id_text, student_ids, unsafe_ids
from data.outcome_rule import FALSE_WORDS, TRUE_WORDS
from data.spec import ColumnSpec, DatasetSpec
from sara.errors import UserError

if TYPE_CHECKING:  # pandera costs half a second to import: loaded when a table is validated
    import pandera.pandas as pa

ISSUE_COLUMNS = ["row", "student_id", "column", "value", "rule"]
ROW = "_row"
RULE_MISSING = "required: value is missing"
RULE_NUMBER = "must be a number"
RULE_BOOL = "must be 0/1 (or true/false)"
CHUNK_ROWS = 500_000


class SchemaMismatchError(UserError, ValueError):
    """The table's columns do not match the spec; nothing can be validated row by row."""

    def __init__(
        self,
        spec: DatasetSpec,
        missing: list[str],
        unexpected: list[str],
        source: str | None = None,
    ):
        self.missing, self.unexpected = missing, unexpected
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unexpected:
            hints = []
            for name in unexpected:
                close = difflib.get_close_matches(name, missing or spec.column_names, n=1)
                hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
            parts.append(f"unexpected column(s): {', '.join(hints)}")
        where = f"{source}: " if source else ""
        message = f"{where}columns do not match spec {spec.name!r}: " + "; ".join(parts)
        if len(unexpected) == 1 and any(d in unexpected[0] for d in ",;\t|: "):
            message += ". The whole header was read as one column: is the delimiter unusual?"
        super().__init__(message)


@dataclass
class ValidationReport:
    spec_name: str
    n_rows: int
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    issues: pd.DataFrame
    ids_assigned: int = 0
    files: dict[str, str] = field(default_factory=dict)
    # Rows whose id an earlier row already had, and how many distinct ids that is; with
    # repeated_ids "enrolments" those rows were kept and numbered, else quarantined.
    repeated_rows: int = 0
    repeated_ids: int = 0
    repeated_example: str | None = None
    repeated_policy: Literal["reject", "enrolments"] = "reject"
    composite_key: bool = False

    @property
    def n_valid(self) -> int:
        return len(self.valid)

    @property
    def n_quarantined(self) -> int:
        return len(self.quarantined)

    @property
    def share_quarantined(self) -> float:
        return self.n_quarantined / self.n_rows if self.n_rows else 0.0

    @property
    def repeated_ids_advice(self) -> str:
        """What to do when rows were quarantined for repeating an id ('' when none were), e.g.
        "412 rows repeat 198 ids (e.g. '11391'); declare a composite id_column (e.g. student
        × course × term) or set repeated_ids: enrolments to keep every row"."""
        if not self.repeated_rows or self.repeated_policy != "reject":
            return ""
        rows = "1 row repeats" if self.repeated_rows == 1 else f"{self.repeated_rows:,} rows repeat"
        ids = "1 id" if self.repeated_ids == 1 else f"{self.repeated_ids:,} ids"
        fix = (
            "add a part to the composite id_column (e.g. term)"
            if self.composite_key
            else "declare a composite id_column (e.g. student × course × term)"
        )
        return (
            f"{rows} {ids} (e.g. {self.repeated_example!r}); {fix} or set repeated_ids: "
            "enrolments to keep every row"
        )

    def issues_by_rule(self) -> pd.DataFrame:
        """Issue counts per column and rule, with one example value each."""
        if self.issues.empty:
            return pd.DataFrame(columns=["column", "rule", "count", "example_row", "example_value"])
        grouped = self.issues.groupby(["column", "rule"], sort=True)
        return (
            grouped.agg(
                count=("row", "size"),
                example_row=("row", "first"),
                example_value=("value", "first"),
            )
            .reset_index()
            .sort_values("count", ascending=False, kind="stable")
        )


def check_columns(
    frame: pd.DataFrame | list[str], spec: DatasetSpec, source: str | None = None
) -> None:
    """Raise ``SchemaMismatchError`` (naming ``source``) unless the columns of ``frame`` (or
    the column names given) are exactly the spec's."""
    columns = list(frame.columns) if isinstance(frame, pd.DataFrame) else list(frame)
    present = set(columns)
    optional = _optional_id(spec)
    missing = [
        c.name for c in spec.columns if c.required and c.name not in present and c.name != optional
    ]
    declared = set(spec.column_names)
    unexpected = [str(c) for c in columns if c not in declared]
    if missing or unexpected:
        raise SchemaMismatchError(spec, missing, unexpected, source)


def _optional_id(spec: DatasetSpec) -> str | None:
    """The id column a table may leave out: a single declared one (ids are then generated).
    The parts of a composite id are always needed."""
    return spec.id_parts[0] if len(spec.id_parts) == 1 else None


def _issue_frame(rows: np.ndarray, column: str, rule: str) -> pd.DataFrame:
    return pd.DataFrame({"row": rows, "column": column, "rule": rule})


def _coerce(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Turn raw values into the spec's types; values that cannot be converted become issues."""
    coerced, issues = {}, []
    if spec.key_column in frame.columns and spec.key_column not in spec.column_names:
        coerced[spec.key_column] = frame[spec.key_column]
    for col in spec.columns:
        if col.name not in frame.columns:
            continue
        raw = frame[col.name]
        if col.dtype in ("int", "float"):
            values = pd.to_numeric(raw, errors="coerce") if raw.dtype.kind not in "iufb" else raw
            values = values.astype("float64")
            bad = raw.notna().to_numpy() & values.isna().to_numpy()
            if bad.any():
                issues.append(_issue_frame(raw.index[bad].to_numpy(), col.name, RULE_NUMBER))
        elif col.dtype == "bool":
            if raw.dtype.kind in "iufb":
                values = raw.astype("float64")
            else:
                words = raw.astype("string").str.strip().str.lower()
                values = pd.Series(
                    np.where(
                        words.isin(TRUE_WORDS), 1.0, np.where(words.isin(FALSE_WORDS), 0.0, np.nan)
                    ),
                    index=raw.index,
                )
                bad = raw.notna().to_numpy() & values.isna().to_numpy()
                if bad.any():
                    issues.append(_issue_frame(raw.index[bad].to_numpy(), col.name, RULE_BOOL))
        else:
            values = raw.astype("string").str.strip()
        coerced[col.name] = values
    return pd.DataFrame(coerced, index=frame.index), issues


def _range_rule(col: ColumnSpec) -> str:
    if col.min is not None and col.max is not None:
        return f"must be between {col.min:g} and {col.max:g}"
    if col.min is not None:
        return f"must be at least {col.min:g}"
    return f"must be at most {col.max:g}"


def _category_rule(col: ColumnSpec) -> str:
    return f"must be one of: {', '.join(col.categories)}"


def check_value(col: ColumnSpec, value: Any) -> tuple[Any, str | None]:
    """One raw value, checked by the same rules as ``validate_frame`` (same rule texts):
    ``(typed value, None)`` or ``(None, broken rule)``. For a handful of records this is
    ~1,000× cheaper than building and validating a frame."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return (math.nan if col.is_numeric else None), (RULE_MISSING if col.required else None)
    if col.dtype == "category":
        text = str(value).strip()
        return (text, None) if text in col.categories else (None, _category_rule(col))
    if col.dtype == "bool":
        word = str(value).strip().lower()
        if isinstance(value, bool | int | float) and not isinstance(value, str):
            word = {1: "1", 0: "0"}.get(value, word)  # 1, 1.0 and True all mean yes
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return (1.0 if word in TRUE_WORDS else 0.0), None
        return None, RULE_BOOL
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None, RULE_NUMBER
    if math.isnan(number):
        return None, RULE_NUMBER
    if (col.min is not None and number < col.min) or (col.max is not None and number > col.max):
        return None, _range_rule(col)
    if col.dtype == "int" and number != math.floor(number):
        return None, "must be a whole number"
    return number, None


def build_schema(spec: DatasetSpec) -> pa.DataFrameSchema:
    """The pandera schema for already-coerced values; each check's error text is its rule."""
    import pandera.pandas as pa

    columns = {}
    for col in spec.columns:
        checks = []
        if col.dtype in ("int", "float"):
            if col.min is not None or col.max is not None:
                lo = -np.inf if col.min is None else col.min
                hi = np.inf if col.max is None else col.max
                checks.append(pa.Check.in_range(lo, hi, error=_range_rule(col)))
            if col.dtype == "int":
                checks.append(
                    pa.Check(
                        lambda s: s.isna() | (s == np.floor(s)),
                        element_wise=False,
                        error="must be a whole number",
                    )
                )
        elif col.dtype == "bool":
            checks.append(pa.Check.isin([0.0, 1.0], error=RULE_BOOL))
        elif col.dtype == "category":
            checks.append(pa.Check.isin(list(col.categories), error=_category_rule(col)))
        columns[col.name] = pa.Column(
            "float64" if col.is_numeric else None,
            checks=checks,
            nullable=not col.required,
            required=col.required and col.name != _optional_id(spec),
        )
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _pandera_issues(coerced: pd.DataFrame, schema: pa.DataFrameSchema) -> list[pd.DataFrame]:
    from pandera.errors import SchemaErrors

    try:
        schema.validate(coerced, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna() & cases["column"].notna()]
        rule = cases["check"].astype(str)
        return [
            pd.DataFrame(
                {
                    "row": cases["index"].astype("int64").to_numpy(),
                    "column": cases["column"].astype(str).to_numpy(),
                    "rule": np.where(rule == "not_nullable", RULE_MISSING, rule.to_numpy()),
                }
            )
        ]
    return []


def assign_ids(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, int]:
    """Put the spec's key column (``spec.key_column``) in ``frame``; returns the frame and how
    many ids were generated. Ids are text, verbatim but for surrounding whitespace.

    - one id column: students without an id get prefix + row number (``S0000001``);
    - a composite id: the parts (each kept as a column) joined by ``key_separator`` into
      ``key_name``, placed first; a row missing a part has no key (the part is reported missing);
    - no id column: ``key_name``, placed first, holds prefix + row number for every row.

    A spec narrowed to a few columns (scoring records) may leave the parts out: the key column
    is then read like a single id column when the frame has it, else generated."""
    frame = frame.copy(deep=False)
    key, parts = spec.key_column, spec.id_parts
    if len(parts) > 1 and all(part in frame.columns for part in parts):
        texts = []
        for part in parts:
            frame[part] = id_text(frame[part])
            texts.append(frame[part])
        keys = texts[0].str.cat(texts[1:], sep=spec.key_separator)
        _put_first(frame, key, keys)
        return frame, 0
    if key not in frame.columns:
        ids = student_ids(range(1, len(frame) + 1), len(frame), spec.id_prefix)
        _put_first(frame, key, pd.Series(ids, index=frame.index, dtype="string"))
        return frame, len(frame)
    current = id_text(frame[key])
    missing = current.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        current = current.copy()
        current.iloc[rows] = student_ids(rows + 1, len(frame), spec.id_prefix)
    frame[key] = current
    return frame, int(missing.sum())


def _put_first(frame: pd.DataFrame, name: str, values: pd.Series) -> None:
    if name in frame.columns:
        del frame[name]
    frame.insert(0, name, values)


def _id_issues(frame: pd.DataFrame, spec: DatasetSpec) -> list[pd.DataFrame]:
    """Ids (or parts of a composite id) holding '/' or a control character; with a composite
    id, parts holding the key separator (the key would be ambiguous)."""
    composite = len(spec.id_parts) > 1 and all(p in frame.columns for p in spec.id_parts)
    # Without an id column every key is generated from the (checked) prefix.
    names = spec.id_parts if composite else [spec.key_column] if spec.id_parts else []
    issues = []
    for part in names:
        ids = frame[part]
        unsafe = unsafe_ids(ids)
        if unsafe.any():
            issues.append(_issue_frame(np.flatnonzero(unsafe), part, RULE_ID_CHARS))
        if composite:
            sep = spec.key_separator
            holds = ids.str.contains(sep, regex=False).fillna(False).to_numpy(dtype=bool)
            holds &= ~unsafe
            if holds.any():
                rule = f"id part must not contain the key separator {sep!r}"
                issues.append(_issue_frame(np.flatnonzero(holds), part, rule))
    return issues


def _repeats(ids: pd.Series) -> tuple[np.ndarray, int]:
    """Which rows repeat an id an earlier row has (missing ids never do), and how many
    distinct ids are repeated."""
    repeat = ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
    return repeat, int(ids[repeat].nunique())


def _duplicate_id_issues(ids: pd.Series, dup: np.ndarray | None = None) -> list[pd.DataFrame]:
    """Each row repeating an earlier row's id (``dup``, when already known), with that row."""
    if dup is None:
        dup, _ = _repeats(ids)
    if not dup.any():
        return []
    first = ~dup & ids.notna().to_numpy()
    first_row = pd.Series(np.flatnonzero(first), index=ids[first].to_numpy())
    rows = np.flatnonzero(dup)
    first_seen = first_row.loc[ids.iloc[rows].to_numpy()].to_numpy() + 1
    rules = [f"id must be unique (first seen on row {r})" for r in first_seen]
    return [pd.DataFrame({"row": rows, "column": ids.name, "rule": rules})]


def validate_frame(
    frame: pd.DataFrame, spec: DatasetSpec, chunk_rows: int = CHUNK_ROWS
) -> ValidationReport:
    """Validate ``frame`` against ``spec``: typed valid rows, quarantined rows, and the issues.
    Rows are checked ``chunk_rows`` at a time so memory stays near the size of the data."""
    check_columns(frame, spec)
    frame = frame.reset_index(drop=True)
    frame, assigned = assign_ids(frame, spec)
    key = spec.key_column
    schema = build_schema(spec)
    issues = _id_issues(frame, spec)
    repeated, n_repeated = _repeats(frame[key])
    example = frame[key].iloc[np.flatnonzero(repeated)[0]] if repeated.any() else None
    if spec.repeated_ids == "enrolments" and repeated.any():
        frame[key] = enrolment_ids(frame[key])
        # A numbered id may collide with a real one (a file holding both "7" twice and "7#2").
        issues += _duplicate_id_issues(frame[key])
    else:
        issues += _duplicate_id_issues(frame[key], repeated)
    bad = np.zeros(len(frame), dtype=bool)
    for found in issues:
        bad[found["row"].to_numpy(dtype="int64")] = True
    valid_parts = []
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start : start + chunk_rows]
        coerced, part_issues = _coerce(part, spec)
        part_issues += _pandera_issues(coerced, schema)
        for found in part_issues:
            bad[found["row"].to_numpy(dtype="int64")] = True
        issues += part_issues
        valid_parts.append(_typed(coerced[~bad[start : start + len(part)]], spec))
    table = (
        pd.concat(issues, ignore_index=True)
        if issues
        else pd.DataFrame({"row": pd.Series(dtype="int64"), "column": [], "rule": []})
    )
    # A value that could not be converted is reported once, not again as "missing".
    table = table.drop_duplicates(subset=["row", "column"], keep="first")
    rows = table["row"].to_numpy(dtype="int64")
    ids = frame[key].iloc[rows].to_numpy(dtype=object)
    table = (
        table.assign(student_id=ids, value=_raw_values(frame, table), row=rows + 1)
        .sort_values(["row", "column"], kind="stable")[ISSUE_COLUMNS]
        .reset_index(drop=True)
    )
    quarantined = frame[bad].copy()
    quarantined.insert(0, ROW, np.flatnonzero(bad) + 1)
    valid = pd.concat(valid_parts) if valid_parts else _typed(frame.iloc[:0], spec)
    return ValidationReport(
        spec_name=spec.name,
        n_rows=len(frame),
        valid=valid.reset_index(drop=True),
        quarantined=quarantined.reset_index(drop=True),
        issues=table,
        ids_assigned=assigned,
        repeated_rows=int(repeated.sum()),
        repeated_ids=n_repeated,
        repeated_example=None if example is None else str(example),
        repeated_policy=spec.repeated_ids,
        composite_key=len(spec.id_parts) > 1,
    )


def _raw_values(frame: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Each issue's value exactly as it was read ('' when missing), not as coerced."""
    values = np.empty(len(table), dtype=object)
    for column, positions in table.groupby("column").indices.items():
        rows = table["row"].to_numpy(dtype="int64")[positions]
        raw = frame[column].iloc[rows].to_numpy(dtype=object)
        values[positions] = ["" if pd.isna(v) else str(v) for v in raw]
    return values


def _typed(valid: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    out = {}
    if spec.key_column in valid.columns and spec.key_column not in spec.column_names:
        out[spec.key_column] = valid[spec.key_column].astype("string")
    for col in spec.columns:
        if col.name not in valid.columns:
            continue
        values = valid[col.name]
        if col.dtype in ("int", "bool"):
            out[col.name] = values.astype("Int64" if values.isna().any() else "int64")
        elif col.dtype == "float":
            out[col.name] = values.astype("float64")
        else:
            out[col.name] = values.astype("string")
    return pd.DataFrame(out, index=valid.index)
