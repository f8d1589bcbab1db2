"""Read a student table from CSV (delimiter sniffed), Parquet, a DuckDB table or a Hugging Face
dataset. Every failure is a ``DataLoadError`` whose message tells the user what to do."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
DUCKDB_SUFFIXES = {".duckdb", ".ddb", ".db"}
HF_PREFIX = "hf://"


class DataLoadError(ValueError):
    """A source that cannot be read as a table."""


def read_table(
    source: str | Path,
    *,
    table: str | None = None,
    encoding: str | None = None,
    id_column: str | None = None,
) -> pd.DataFrame:
    """Read ``source`` into a DataFrame. ``table`` picks a DuckDB table; ``encoding`` overrides
    CSV encoding detection; ``id_column`` is read as text so ids keep their leading zeros."""
    text = str(source)
    if text.startswith(HF_PREFIX):
        return _read_hugging_face(text.removeprefix(HF_PREFIX))
    path = Path(source)
    if not path.exists():
        raise DataLoadError(f"{path}: no such file")
    if path.is_dir():
        raise DataLoadError(f"{path} is a folder; give a CSV, Parquet or DuckDB file")
    if path.stat().st_size == 0:
        raise DataLoadError(f"{path} is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix in DUCKDB_SUFFIXES:
        return _read_duckdb(path, table)
    return _read_csv(path, encoding, id_column)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(path).to_pandas(split_blocks=True, self_destruct=True)
    except (pa.ArrowException, OSError) as exc:
        raise DataLoadError(f"{path} is not a readable Parquet file ({exc})") from None
    # Dictionary-encoded strings come back as categoricals; the contract works on values,
    # kept as Arrow-backed strings (a quarter of the memory of Python objects).
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype("string")
    return frame


def _read_duckdb(path: Path, table: str | None) -> pd.DataFrame:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DataLoadError(f"{path} is not a readable DuckDB file ({exc})") from None
    try:
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        ]
        if table is None:
            if len(tables) != 1:
                raise DataLoadError(
                    f"{path} holds {len(tables)} tables ({', '.join(tables) or 'none'}); "
                    "pick one with --table"
                )
            table = tables[0]
        if table not in tables:
            raise DataLoadError(
                f"{path} has no table {table!r} (tables: {', '.join(tables) or 'none'})"
            )
        # The name was checked against the catalogue above; con.table quotes it.
        return con.table(table).df()
    finally:
        con.close()


def _detect_encoding(path: Path, sample: bytes) -> str:
    try:
        sample.decode("utf-8")
        return "utf-8-sig" if sample.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is not an encoding error.
        if exc.start >= len(sample) - 3 and len(sample) == SNIFF_BYTES:
            return "utf-8"
        from charset_normalizer import from_bytes

        guess = from_bytes(sample).best()
        looks_like = f" (it looks like {guess.encoding})" if guess else ""
        raise DataLoadError(
            f"{path} is not UTF-8 text{looks_like}: byte {exc.start} cannot be decoded. "
            "Save it as UTF-8, or pass --encoding with the file's encoding"
        ) from None


def _read_csv(path: Path, encoding: str | None, id_column: str | None) -> pd.DataFrame:
    with path.open("rb") as handle:
        sample = handle.read(SNIFF_BYTES)
    if not sample.strip():
        raise DataLoadError(f"{path} is empty (no header, no rows)")
    if encoding is None:
        encoding = _detect_encoding(path, sample)
    try:
        text = sample.decode(encoding, errors="ignore")
    except LookupError:
        raise DataLoadError(f"--encoding {encoding!r} is not an encoding Python knows") from None
    header_line = text.splitlines()[0] if text.splitlines() else ""
    try:
        delimiter = csv.Sniffer().sniff(text, delimiters=DELIMITERS).delimiter
    except csv.Error:
        # One-column files and header-only files defeat the sniffer; fall back on the header.
        counts = {d: header_line.count(d) for d in DELIMITERS}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    dtype = {id_column: "string"} if id_column else None
    try:
        frame = pd.read_csv(
            path, sep=delimiter, encoding=encoding, dtype=dtype, skipinitialspace=True
        )
    except UnicodeDecodeError as exc:
        raise DataLoadError(
            f"{path} is not valid {encoding} text past the first {SNIFF_BYTES} bytes ({exc.reason} "
            f"at byte {exc.start} of a chunk); save it as UTF-8 or pass --encoding"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataLoadError(f"{path} is empty (no header, no rows)") from None
    except pd.errors.ParserError as exc:
        raise DataLoadError(
            f"{path} is not a well-formed CSV with delimiter {delimiter!r}: {exc}"
        ) from None
    frame.attrs["delimiter"] = delimiter
    frame.attrs["encoding"] = encoding
    return frame


def _read_hugging_face(dataset_id: str) -> pd.DataFrame:
    """Download a public dataset's CSV/Parquet files (needs network and huggingface_hub)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise DataLoadError("reading hf:// datasets needs the huggingface_hub package") from None
    try:
        folder = Path(
            snapshot_download(
                dataset_id, repo_type="dataset", allow_patterns=["*.csv", "*.parquet"]
            )
        )
    except Exception as exc:  # the hub raises many types; all mean "could not fetch"
        raise DataLoadError(
            f"could not download Hugging Face dataset {dataset_id!r}: {exc}"
        ) from None
    files = sorted(folder.rglob("*.parquet")) or sorted(folder.rglob("*.csv"))
    if not files:
        raise DataLoadError(f"Hugging Face dataset {dataset_id!r} has no CSV or Parquet files")
    return pd.concat([read_table(f) for f in files], ignore_index=True)
