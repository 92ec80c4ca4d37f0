"""Reading a text table (.csv, .tsv, .json, .jsonl, .parquet): its rows as DataFrames of strings
(``iter_table``, ``read_table``), or, for predicting a file, as columns of str without pandas
(``iter_columns``), and the text of each row (``texts_of``).

This is what ``textclf predict`` and ``explain`` read a file with, so it imports neither pydantic
nor the data sources (``data/files.py``, the ``files`` source, reads its tables with it): a
prediction's process starts without them. pandas is imported when a table is read through it.
:data:`READ_DEFAULTS` are the table keys' defaults, for a model whose saved config lacks one.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from textclf.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "READ_DEFAULTS", "iter_table", "read_table", "iter_columns", "ColumnChunk", "texts_of",
           "require_columns", "as_strings"]

FORMATS = (".csv", ".tsv", ".json", ".jsonl", ".parquet")

# How a model's files are read where its saved config does not say (``data.files.TableParams``
# takes its defaults from here): the text and id columns, the encoding, what joins a row's labels.
READ_DEFAULTS: dict[str, Any] = {"text_column": "text", "label_column": "label", "label_separator": "|",
                                 "id_column": None, "encoding": "utf-8"}


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unsupported file type '{suffix}'; use one of {', '.join(FORMATS)}")
    return suffix


def _decode_error(path: Path, exc: UnicodeDecodeError, encoding: str) -> DataError:
    """Name the line and byte offset of the first byte that does not decode."""
    raw = path.read_bytes()
    # pandas reads in chunks, so exc.start may be relative to a chunk: find the real offset.
    try:
        raw.decode(encoding)
        offset = exc.start
    except UnicodeDecodeError as full:
        offset = full.start
    line = raw.count(b"\n", 0, offset) + 1
    return DataError(
        f"{path}:{line}: cannot decode byte 0x{raw[offset]:02x} at offset {offset} as {encoding}; "
        "set data.encoding to the file's encoding (for example latin-1)"
    )


def iter_table(path: Path, encoding: str = "utf-8", chunk_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """Read a table as DataFrames of strings (in chunks of ``chunk_rows`` where the format allows)."""
    import pandas as pd

    path = Path(path)
    kind = _format(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    try:
        if kind in (".csv", ".tsv"):
            yield from _delimited(path, "\t" if kind == ".tsv" else ",", encoding, chunk_rows)
        elif kind == ".jsonl":
            reader = pd.read_json(path, lines=True, dtype=False, encoding=encoding, chunksize=chunk_rows)
            yield from ([reader] if chunk_rows is None else reader)
        elif kind == ".json":
            try:
                frame = pd.read_json(path, orient="records", dtype=False, encoding=encoding)
            except ValueError:
                if _looks_like_json_lines(path, encoding):
                    raise DataError(f"{path}: this looks like JSON lines (one object per line); "
                                    "name the file .jsonl") from None
                raise
            yield frame
        else:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches(batch_size=chunk_rows or 65536):
                yield batch.to_pandas()
    except UnicodeDecodeError as exc:
        raise _decode_error(path, exc, encoding) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file has no header and no rows") from None
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read it as {kind[1:]}: {first}") from None


def _delimited(path: Path, sep: str, encoding: str, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """A CSV or TSV file's rows. A row with more fields than the header is an error naming its
    line: pandas would otherwise take the extra leading fields of the first row as an index (a text
    with an unquoted comma loses its start) or drop them with a warning."""
    import pandas as pd

    def guarded(read):
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            try:
                return read()
            except (pd.errors.ParserWarning, pd.errors.ParserError):
                overlong = _overlong_row(path, sep, encoding)
                if overlong is None:
                    raise
                line, fields, header = overlong
                what = "comma" if sep == "," else "tab"
                raise DataError(f"{path}:{line}: {fields} fields where the header has {header}; a text with a "
                                f"{what} in it must be quoted (\"like, this\"), or the file written by a CSV "
                                "writer") from None

    reader = guarded(lambda: pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding,
                                         chunksize=chunk_rows, index_col=False))
    if chunk_rows is None:
        yield reader
        return
    while (chunk := guarded(lambda: next(reader, None))) is not None:
        yield chunk


# A UTF-8 CSV or TSV file up to this size is parsed whole by pyarrow when a file is predicted.
ARROW_MAX_BYTES = 256 << 20


class ColumnChunk(dict):
    """Rows of a table as {column name: list of str}, read without pandas: ``chunk.columns`` and
    ``chunk[name]`` as a DataFrame's (what predicting a file reads of its chunks)."""

    @property
    def columns(self) -> list[str]:
        return list(self)


def iter_columns(path: Path, encoding: str | None = "utf-8", chunk_rows: int = 10000) -> Iterator[Any]:
    """The chunks of ``iter_table``, for predicting a file. A UTF-8 CSV or TSV file of at most
    ``ARROW_MAX_BYTES`` is parsed at once by pyarrow's reader (on its own threads, without
    importing pandas: 0.08 s against 0.37 s for 20 Newsgroups' test posts ×3, 41.6 MB, imports
    included, in ``benchmarks/csv_read.py``) and comes in :class:`ColumnChunk` s of
    ``chunk_rows`` rows; it keeps a row of spaces alone, which pandas drops from a one-column
    file as a blank line. Whatever it
    does not read as pandas would (another encoding, a byte-order mark, duplicate or empty
    column names, a row of another width, bytes that are not UTF-8) goes to ``iter_table``,
    which reads it or names the mistake."""
    path = Path(path)
    table = _arrow_table(path, encoding)
    if table is None:
        yield from iter_table(path, encoding or "utf-8", chunk_rows)
        return
    names = table.column_names
    for start in range(0, table.num_rows, chunk_rows):
        part = table.slice(start, chunk_rows)
        yield ColumnChunk((name, part.column(i).to_pylist()) for i, name in enumerate(names))


def _arrow_table(path: Path, encoding: str | None):
    """The whole table of strings by pyarrow.csv, or None where ``iter_table`` must read it."""
    import importlib.util

    kind = path.suffix.lower()
    if kind not in (".csv", ".tsv") or importlib.util.find_spec("pyarrow") is None:
        return None
    try:
        if codecs.lookup(encoding or "utf-8").name != "utf-8" or not 0 < path.stat().st_size <= ARROW_MAX_BYTES:
            return None
        sep = "\t" if kind == ".tsv" else ","
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f, delimiter=sep), None)
    except (OSError, LookupError, UnicodeDecodeError, csv.Error):
        return None
    if (not header or header[0].startswith("\ufeff")  # (a byte-order mark)
            or any(not name for name in header) or len(set(header)) < len(header)):
        return None
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        table = pcsv.read_csv(
            path, parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(column_types={name: pa.string() for name in header},
                                                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowException, OSError):
        return None
    return table if table.column_names == header else None


def _overlong_row(path: Path, sep: str, encoding: str) -> tuple[int, int, int] | None:
    """(line, fields, header fields) of the first row with more fields than the header, or None."""
    with open(path, newline="", encoding=encoding) as f:
        rows = csv.reader(f, delimiter=sep)
        header = next(rows, [])
        for row in rows:
            if len(row) > len(header):
                return rows.line_num, len(row), len(header)
    return None


def _looks_like_json_lines(path: Path, encoding: str) -> bool:
    import json

    with open(path, encoding=encoding, errors="replace") as f:
        lines = [line for line in (f.readline() for _ in range(3)) if line.strip()]
    try:
        return len(lines) >= 2 and all(isinstance(json.loads(line), dict) for line in lines)
    except ValueError:
        return False


def read_table(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    """The whole table; a table without rows is a DataError."""
    import pandas as pd

    frames = list(iter_table(path, encoding))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(frame) == 0:
        raise DataError(f"{path}: the table has no rows (a header alone, or an empty list)")
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], path: Path, key: str) -> None:
    for column in columns:
        if column not in frame.columns:
            have = [str(c) for c in frame.columns]
            close = difflib.get_close_matches(column, have, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise DataError(
                f"{path}: no column '{column}' (from {key}); {hint}columns: {', '.join(have)}"
            )


def as_strings(values: pd.Series) -> list[str]:
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]


def texts_of(frame: pd.DataFrame, text_column: str | list[str], path: Path) -> list[str]:
    """The text of each row; several columns are joined with a space."""
    columns = [text_column] if isinstance(text_column, str) else list(text_column)
    require_columns(frame, columns, path, "data.text_column")
    # (a ColumnChunk holds strings already)
    parts = [frame[c] if isinstance(frame, ColumnChunk) else as_strings(frame[c]) for c in columns]
    if len(parts) == 1:
        return parts[0]
    return [" ".join(p for p in row if p) for row in zip(*parts)]
