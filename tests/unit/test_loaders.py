"""Loaders round-trip every format; bad files each give their clear message."""

import duckdb
import pandas as pd
import pytest

from data.loaders import DataLoadError, read_table
from data.synthetic.cohort import generate_frame


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    frame, _ = generate_frame(30, seed=11)
    return frame


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_round_trip_with_sniffed_delimiter(tmp_path, cohort, delimiter):
    path = tmp_path / "cohort.csv"
    cohort.to_csv(path, sep=delimiter, index=False)
    back = read_table(path, id_column="StudentID")
    assert back.attrs["delimiter"] == delimiter
    pd.testing.assert_frame_equal(back, cohort, check_dtype=False)


def test_csv_keeps_leading_zeros_in_ids(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("StudentID,Age\n000123,15\n")
    assert read_table(path, id_column="StudentID")["StudentID"].tolist() == ["000123"]


def test_parquet_round_trip(tmp_path, cohort):
    path = tmp_path / "cohort.parquet"
    cohort.to_parquet(path)
    pd.testing.assert_frame_equal(read_table(path), cohort, check_dtype=False)


def test_duckdb_table_round_trip(tmp_path, cohort):
    path = tmp_path / "district.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("cohort_view", cohort)
        con.execute("CREATE TABLE students AS SELECT * FROM cohort_view")
    pd.testing.assert_frame_equal(read_table(path), cohort, check_dtype=False)
    pd.testing.assert_frame_equal(read_table(path, table="students"), cohort, check_dtype=False)
    with pytest.raises(DataLoadError, match=r"no table .pupils.*students"):
        read_table(path, table="pupils")


def test_duckdb_with_several_tables_asks_which(tmp_path):
    path = tmp_path / "two.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE a (x INT); CREATE TABLE b (y INT)")
    with pytest.raises(DataLoadError, match=r"holds 2 tables .*--table"):
        read_table(path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_text_with_a_byte_order_mark_is_read(tmp_path, encoding):
    path = tmp_path / "bom.csv"
    path.write_bytes("Age,Race\n15,Hispanic\n".encode(encoding))
    assert read_table(path).to_dict("records") == [{"Age": 15, "Race": "Hispanic"}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty \\(0 bytes\\)"),
        (b"\n\n  \n", "is empty \\(no header, no rows\\)"),
        ("Age,Race\n15,Bl\u00e9\n".encode("cp1252"), "is not UTF-8 text"),
        ("Age,Race\n15,x\n".encode("utf-16-le"), "UTF-16/UTF-32 text without a byte-order mark"),
        (b'Age,Race\n15,"unclosed\n16,x\n', "not a well-formed CSV"),
    ],
)
def test_bad_csv_files_give_clear_messages(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataLoadError, match=message):
        read_table(path)


def test_explicit_encoding_reads_a_legacy_file(tmp_path):
    path = tmp_path / "legacy.csv"
    path.write_bytes("Age,Race\n15,Bl\u00e9\n".encode("cp1252"))
    assert read_table(path, encoding="cp1252")["Race"].tolist() == ["Bl\u00e9"]
    with pytest.raises(DataLoadError, match="not an encoding"):
        read_table(path, encoding="klingon")


def test_missing_folder_and_corrupt_parquet(tmp_path):
    with pytest.raises(DataLoadError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataLoadError, match="is a folder"):
        read_table(tmp_path)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(DataLoadError, match="not a readable Parquet file"):
        read_table(corrupt)
