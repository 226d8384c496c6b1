"""File helpers: atomic writes, hashing and reading tabular data with clear errors.

Every artifact is written to a temporary file next to its target and renamed into
place, so a crash or a bad input never leaves a half-written file behind and the
previous version stays intact.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .errors import DataError

if TYPE_CHECKING:  # pandas is imported where a table is read: commands that only copy stay fast
    import pandas as pd

# The mode open() would give a new file: 0o666 less the process umask.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK

# Cell text that is a missing value: pandas' own list and "?". One list for reading
# files and for category text sent to the API, so both treat "NA" alike.
MISSING_TEXT = frozenset(
    {"", "?", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"}
    | {"1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)


PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
SET_DELIMITER = "set data.delimiter in params.yaml"  # the fix for a file of another delimiter


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, FILE_MODE)  # mkstemp makes files private; artifacts are shared (images, CI)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.replace(target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_open(target: Path, mode: str = "w") -> Iterator[IO[Any]]:
    with atomic_path(target) as tmp, tmp.open(mode, encoding=None if "b" in mode else "utf-8") as f:
        yield f


def write_json(path: Path, data: object) -> None:
    """Pretty UTF-8 JSON, written atomically; column names in any script stay readable."""
    with atomic_open(path) as f:
        json.dump(data, f, indent=2, sort_keys=False, default=str, ensure_ascii=False)
        f.write("\n")


def read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_header(path: Path, delimiter: str = ",") -> list[str]:
    """The column names of a CSV file, after checking it has at least one data row."""
    _check_file(path)
    try:
        # utf-8-sig: Excel starts its UTF-8 CSV with a byte-order mark, as pandas knows.
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header, first_row = next(reader, None), next(reader, None)
    except UnicodeDecodeError:
        check_utf8(path)  # raises, naming the line
        raise DataError(f"{path}: not UTF-8 text; save it as UTF-8 CSV") from None
    except csv.Error as error:
        raise DataError(f"{path}: cannot be parsed as CSV: {error}") from None
    if not header:
        raise DataError(f"{path}: file has no columns")
    if first_row is None:
        raise DataError(f"{path}: file has a header but no rows")
    columns = _stripped_names(path, header)
    _check_delimiter(path, columns, delimiter)
    return columns


def check_utf8(path: Path, copy: IO[bytes] | None = None) -> None:
    """Raise ``DataError`` naming the first line of ``path`` that is not UTF-8 text,
    writing every byte to ``copy`` on the way when one is given."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as read:
        while chunk := read.read(1 << 20):
            held = len(decoder.getstate()[0])  # the start of a character split by the read
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                line += chunk[: max(error.start - held, 0)].count(b"\n")
                raise DataError(
                    f"{path}: not UTF-8 text on line {line} ({error.reason}); save it as UTF-8 CSV"
                ) from None
            line += chunk.count(b"\n")
            if copy is not None:
                copy.write(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (it ends inside a character)") from None


def read_table(
    path: Path,
    delimiter: str = ",",
    decimal: str = ".",
    text: Iterable[str] = (),
    other_delimiter: str = SET_DELIMITER,
) -> pd.DataFrame:
    """Read a CSV or Parquet file, or raise ``DataError`` naming the file and the problem.

    ``text``: CSV columns read as text whatever they hold (categorical features), so a
    code such as 02134 keeps its leading zero, as it does when it arrives at the API.
    ``other_delimiter``: what to do about a file that another delimiter splits.
    """
    import pandas as pd

    _check_file(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path)
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            decimal=decimal,
            na_values=sorted(MISSING_TEXT),
            keep_default_na=False,
            dtype=dict.fromkeys(text, str) or None,
        )
    except UnicodeDecodeError:
        check_utf8(path)  # raises, naming the line
        raise DataError(f"{path}: not UTF-8 text; save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, csv.Error) as error:
        detail = str(error).strip().splitlines()[-1]
        raise DataError(
            f"{path}: cannot be parsed as CSV with delimiter {delimiter!r}: {detail}"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file has no columns") from None
    if frame.empty:
        raise DataError(f"{path}: file has a header but no rows")
    frame.columns = _stripped_names(path, frame.columns)
    _check_delimiter(path, list(frame.columns), delimiter, other_delimiter)
    return frame


def _stripped_names(path: Path, names: Iterable[object]) -> list[str]:
    """Column names without surrounding spaces, which must still tell columns apart."""
    stripped = [str(name).strip() for name in names]
    seen: set[str] = set()
    for name in stripped:
        if name in seen:
            raise DataError(
                f"{path}: two columns are named {name!r} once spaces around names are "
                "removed; rename one"
            )
        seen.add(name)
    return stripped


def require_columns(path: Path, available: list[str], wanted: list[str], role: str) -> None:
    """Fail naming the first column of ``wanted`` that the file at ``path`` lacks."""
    missing = [column for column in wanted if column not in available]
    if missing:
        shown = ", ".join(available[:12]) + (", ..." if len(available) > 12 else "")
        raise DataError(f"{path}: {role} column {missing[0]!r} not found (columns: {shown})")


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")


def _check_delimiter(
    path: Path, columns: list[str], delimiter: str, fix: str = SET_DELIMITER
) -> None:
    """One column whose name holds another separator means the wrong delimiter."""
    if len(columns) != 1:
        return
    sniffed = next((d for d in ";\t|," if d != delimiter and d in columns[0]), None)
    if sniffed:
        raise DataError(
            f"{path}: one column {columns[0][:60]!r} found with delimiter {delimiter!r}; "
            f"the file looks {sniffed!r}-separated ({fix})"
        )


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow; "
            "install the extra: uv pip install -e '.[parquet]'"
        ) from None
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path}: cannot be read as Parquet: {error}") from None
    if frame.empty:
        raise DataError(f"{path}: file has no rows")
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
