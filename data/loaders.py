"""Read a student table from CSV (delimiter sniffed), Parquet, a DuckDB table or a Hugging Face
dataset. Every failure is a ``DataLoadError`` whose message tells the user what to do."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sara.errors import UserError

SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
DUCKDB_SUFFIXES = {".duckdb", ".ddb", ".db"}
HF_PREFIX = "hf://"
# Byte-order marks name their encoding unambiguously (Excel's "Unicode text" is UTF-16 + BOM).
# UTF-32 first: its little-endian mark starts with UTF-16's.
BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


class DataLoadError(UserError, ValueError):
    """A source that cannot be read as a table."""


def read_table(
    source: str | Path,
    *,
    table: str | None = None,
    encoding: str | None = None,
    id_column: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read ``source`` into a DataFrame. ``table`` picks a DuckDB table; ``encoding`` overrides
    CSV encoding detection; ``id_column`` (one column, or the parts of a composite id) is read
    as text so ids keep their leading zeros."""
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
    bom = next((name for mark, name in BOMS if sample.startswith(mark)), None)
    if bom is not None:
        return bom
    nul = sample.find(b"\x00")
    if nul >= 0:
        # NUL never occurs in CSV text; pandas would split such a file into nonsense rows.
        raise DataLoadError(
            f"{path} holds NUL bytes (first at byte {nul}): it is a binary "
            "file, or UTF-16/UTF-32 text without a byte-order mark. Give a CSV saved as "
            "UTF-8, or pass --encoding with the file's encoding"
        )
    try:
        sample.decode("utf-8")
        return "utf-8"
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


def _csv_format(path: Path, encoding: str | None) -> tuple[str, str]:
    """The file's encoding (given, or detected) and delimiter (sniffed)."""
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
    return encoding, delimiter


def _read_csv(
    path: Path,
    encoding: str | None,
    id_column: str | Sequence[str] | None,
    nrows: int | None = None,
) -> pd.DataFrame:
    encoding, delimiter = _csv_format(path, encoding)
    id_columns = [id_column] if isinstance(id_column, str) else list(id_column or [])
    dtype = dict.fromkeys(id_columns, "string") or None
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            encoding=encoding,
            dtype=dtype,
            skipinitialspace=True,
            nrows=nrows,
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


def read_columns(
    source: str | Path, *, table: str | None = None, encoding: str | None = None
) -> list[str] | None:
    """The column names of a local CSV or Parquet file, read without loading its rows (so a
    file that cannot match the spec fails in moments, whatever its size); None for sources
    whose columns only a full read tells (DuckDB tables, Hugging Face datasets)."""
    text = str(source)
    path = Path(source)
    if text.startswith(HF_PREFIX) or not path.is_file() or path.stat().st_size == 0:
        return None  # read_table gives the precise error
    suffix = path.suffix.lower()
    if suffix in DUCKDB_SUFFIXES:
        return None
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as exc:
            raise DataLoadError(f"{path} is not a readable Parquet file ({exc})") from None
        # A pandas index stored as a column comes back as the index, not a column.
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        return [name for name in schema.names if name not in index]
    return [str(c) for c in _read_csv(path, encoding, None, nrows=0).columns]


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
