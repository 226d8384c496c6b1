"""Request bodies to model input: parse, check against the feature schema, coerce.

Every rule failure becomes a ``RequestError`` with the HTTP status, a stable error
code, the offending field and the rule, and never echoes the payload back. The
checks work column by column, so a 10,000-row batch costs a few milliseconds.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..data_processing.validation import (
    FLAG_TEXT,
    FeatureSpec,
    category_string,
    category_text,
)

Where = Callable[[int, str], str]  # (row, feature) -> the field name shown in an error


@dataclass
class RequestError(Exception):
    status: int
    code: str
    message: str
    field: str | None = None

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def invalid(field: str, message: str) -> RequestError:
    return RequestError(422, "invalid_input", f"{field}: {message}", field)


def sent_name(name: str, limit: int = 64) -> str:
    """A field name the client sent, shortened for an error: the body is never echoed."""
    return name if len(name) <= limit else name[: limit - 3] + "..."


def parse_json(body: bytes, spec: FeatureSpec, max_rows: int) -> Batch:
    """A JSON body to checked rows, from either of two shapes.

    ``{"instances": [record, ...]}`` (or a bare list of records) is one object per row;
    ``{"columns": {feature: [value, ...], ...}}`` is one list per feature, which
    parses and checks several times faster for large batches.
    """
    document = load_json(body.removeprefix(codecs.BOM_UTF8), "body")
    if isinstance(document, list):
        document = {"instances": document}
    if not isinstance(document, dict) or len(document) != 1 or not SHAPES.issuperset(document):
        extra = sorted(set(document) - SHAPES) if isinstance(document, dict) else []
        raise invalid(sent_name(extra[0]) if extra else "instances", SHAPE_RULE)
    if "columns" in document:
        return columns_to_batch(document["columns"], spec, max_rows)
    instances = document["instances"]
    if not isinstance(instances, list):
        raise invalid("instances", "required, and must be a list of records")
    check_rows(len(instances), max_rows, "instances")
    return records_to_batch(instances, spec)


def load_json(text: bytes, what: str) -> Any:
    """One JSON document, or a 400 naming ``what`` (the body, a line of it)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        if "infinity" not in error.msg:
            raise malformed(what, error.msg) from None
    # A number too large for a double (1e400) is valid JSON that orjson refuses: read it
    # as infinity, which the checks refuse naming the field. The json module used for
    # that is laxer than orjson otherwise, so its extras are refused here: NaN and
    # Infinity literals, lone surrogates (which no UTF-8 text can carry on).
    try:
        document = json.loads(text, parse_constant=_no_constant, parse_int=_json_int)
    except RecursionError:
        raise malformed(what, "nested too deeply") from None
    except ValueError as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise malformed(what, reason) from None
    try:
        orjson.dumps(document)
    except orjson.JSONEncodeError:
        raise malformed(what, "a string holds half of a surrogate pair") from None
    return document


def malformed(what: str, reason: str) -> RequestError:
    if "not valid UTF-8" in reason:  # orjson's words for bytes of another encoding
        reason = "the body is not UTF-8 text, which JSON must be"
    return RequestError(400, "malformed_json", f"{what} is not valid JSON: {reason}")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number (send null for an unknown value)")


def _json_int(digits: str) -> int | float:
    """An integer as orjson reads it: a float beyond 64 bits (infinity beyond a double)."""
    if len(digits) <= 20 and -(2**63) <= (value := int(digits)) < 2**64:
        return value
    return float(digits)


JSON_LINES = "application/jsonlines"


def parse_jsonlines(body: bytes, spec: FeatureSpec, max_rows: int) -> Batch:
    """JSON Lines (SageMaker batch transform's ``application/jsonlines``): one record
    object per line, checked as ``instances`` are; blank lines are skipped, and errors
    name a line by its place in the body (``lines[0]`` is the first)."""
    lines = body.removeprefix(codecs.BOM_UTF8).splitlines()
    line_of: Callable[[int], int] = _same  # record -> line, where blank lines are left out
    if not all(map(bytes.strip, lines)):
        numbers = [number for number, line in enumerate(lines) if line.strip()]
        lines, line_of = [lines[number] for number in numbers], numbers.__getitem__
    check_rows(len(lines), max_rows, "lines")
    try:  # the common case in C; a line that does not parse is found and named below
        records = list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        records = [load_json(line, f"lines[{line_of(i)}]") for i, line in enumerate(lines)]
    return records_to_batch(records, spec, "lines", line_of)


def _same(index: int) -> int:
    return index


SHAPES = frozenset({"instances", "columns"})
MISSING_RULE = "missing field (send null for an unknown value)"
SHAPE_RULE = 'send one of {"instances": [record, ...]} or {"columns": {feature: [values]}}'


def check_rows(rows: int, max_rows: int, field: str) -> None:
    if rows == 0:
        raise invalid(field, "empty batch; send at least one record")
    if rows > max_rows:
        raise RequestError(
            413, "too_many_rows", f"{field}: {rows} rows exceed the limit of {max_rows}", field
        )


@dataclass(frozen=True)
class Batch:
    """Checked request rows, column by column, in the types the model was trained on."""

    spec: FeatureSpec
    numeric: dict[str, np.ndarray]  # float64, NaN where the value is missing
    categorical: dict[str, list[str | None]]  # category text, None where missing
    rows: int

    def frame(self) -> pd.DataFrame:
        """The same rows as a DataFrame, as ``FeatureSpec.coerce`` would give them."""
        data: dict[str, Any] = dict(self.numeric)
        for name, values in self.categorical.items():
            data[name] = pd.Series(values, dtype=object).where(pd.notna(values), np.nan)
        return pd.DataFrame(data, columns=self.spec.columns)


def records_to_batch(
    records: list[Any],
    spec: FeatureSpec,
    field: str = "instances",
    place: Callable[[int], int] = _same,
) -> Batch:
    """Check every record against the schema, column by column; errors name the record
    as ``field[index]``, or ``field[place(index)]`` where the body numbers them so."""
    expected = spec.columns
    try:  # map() keeps the per-record work in C: 10,000 records take about 2 ms
        columns = {name: list(map(itemgetter(name), records)) for name in expected}
    except (KeyError, TypeError):  # a record without a feature, or not an object
        columns = None
    # Every feature present and as many keys as features: no unknown keys either.
    if columns is None or set(map(len, records)) != {len(expected)}:
        raise _explain_record_shape(records, expected, field, place)
    return _typed_batch(columns, spec, lambda i, name: f"{field}[{place(i)}].{name}")


def columns_to_batch(columns: Any, spec: FeatureSpec, max_rows: int) -> Batch:
    """Check one list of values per feature: the same features, all of one length."""
    if not isinstance(columns, dict):
        raise invalid("columns", "must be an object with one list of values per feature")
    unknown = [name for name in columns if name not in spec.columns]
    if unknown:
        raise invalid(f"columns.{sent_name(unknown[0])}", "unknown field")
    for name in spec.columns:
        if name not in columns:
            raise invalid(f"columns.{name}", MISSING_RULE)
        if not isinstance(columns[name], list):
            raise invalid(f"columns.{name}", "must be a list of values, one per row")
    first = spec.columns[0]
    rows = len(columns[first])
    for name in spec.columns:
        if len(columns[name]) != rows:
            raise invalid(
                f"columns.{name}",
                f"has {len(columns[name])} values, {first} has {rows}; all must be as long",
            )
    check_rows(rows, max_rows, "columns")
    return _typed_batch(columns, spec, lambda i, name: f"columns.{name}[{i}]")


def _explain_record_shape(
    records: list[Any], expected: list[str], field: str, place: Callable[[int], int]
) -> RequestError:
    keys = set(expected)
    for index, record in enumerate(records):
        where = f"{field}[{place(index)}]"
        if not isinstance(record, dict):
            return invalid(where, "must be an object of feature values")
        unknown = [name for name in record if name not in keys]
        if unknown:
            return invalid(f"{where}.{sent_name(unknown[0])}", "unknown field")
        missing = [name for name in expected if name not in record]
        if missing:
            return invalid(f"{where}.{missing[0]}", MISSING_RULE)
    return invalid(field, "every record must be an object of feature values")


NUMBER = frozenset({int, float, type(None)})
CATEGORY = frozenset({str, int, float, bool, type(None)})  # True is "True", as in training


def _typed_batch(columns: dict[str, list[Any]], spec: FeatureSpec, where: Where) -> Batch:
    """JSON values, one list per feature, checked against the feature types."""
    numeric: dict[str, np.ndarray] = {}
    for name in spec.numeric:
        values = columns[name]
        if not NUMBER.issuperset(map(type, values)):
            index = next(i for i, v in enumerate(values) if type(v) not in NUMBER)
            raise invalid(where(index, name), "must be a number or null")
    if spec.numeric:
        # One array for every numeric feature (null becomes NaN: a missing value): for
        # a one-row request, NumPy calls per feature were most of the parsing time.
        block = np.array([columns[name] for name in spec.numeric], dtype="float64")
        infinite = np.isinf(block)  # JSON has no NaN; only an in-process caller sends inf
        if infinite.any():
            feature, index = (int(i) for i in np.argwhere(infinite)[0])
            raise invalid(
                where(index, spec.numeric[feature]), "must be a finite number (no NaN or infinity)"
            )
        numeric = dict(zip(spec.numeric, block, strict=True))
    categorical: dict[str, list[str | None]] = {}
    for name in spec.categorical:
        values = columns[name]
        types = set(map(type, values))
        if not CATEGORY.issuperset(types):
            index = next(i for i, v in enumerate(values) if type(v) not in CATEGORY)
            raise invalid(where(index, name), "must be a string, a number, true, false or null")
        if types <= {str, type(None)}:
            categorical[name] = _as_trained(values, name in spec.flags)
            continue
        for index, value in enumerate(values):
            if type(value) is float and not math.isfinite(value):
                raise invalid(where(index, name), "must be a finite number (no NaN or infinity)")
        categorical[name] = _as_trained(
            [None if v is None else category_string(v) for v in values], name in spec.flags
        )
    rows = len(next(iter(columns.values()))) if columns else 0
    return Batch(spec, numeric, categorical, rows)


def _as_trained(values: Sequence[str | None], flag: bool = False) -> list[str | None]:
    """Category text as cleaning gave it to the model (``category_text``): " Biscoe "
    is Biscoe and "" is missing; for a ``flag`` feature "true" is "True", as pandas
    read the training file. Checked once per distinct value, not per row."""
    changed: dict[str | None, str | None] = {}
    for value in set(values):
        if value is not None:
            text = category_text(value)
            if flag and text is not None:
                text = FLAG_TEXT.get(text, text)
            if text != value:
                changed[value] = text
    if changed:
        return [changed.get(v, v) for v in values]
    return values if isinstance(values, list) else list(values)


def parse_csv(body: bytes, spec: FeatureSpec, max_rows: int) -> Batch:
    """CSV rows in feature order, or in the order a header row names the features.

    Plain CSV (no quoting, one value per feature on every line, finite numbers) goes
    through pandas' C parser, about 3x faster; everything else, every error among
    it, goes through the csv module, which names the offending cell. Both give the
    same batch for the same body, but for a cell over 128 KiB, which only the csv
    module refuses.
    """
    try:
        text = body.decode("utf-8-sig")  # Excel starts its UTF-8 CSV with a byte-order mark
    except UnicodeDecodeError:
        raise RequestError(400, "malformed_csv", "body is not UTF-8 text") from None
    return plain_csv(body, spec, max_rows) or csv_module_batch(text, spec, max_rows)


def header_names(cells: list[str], spec: FeatureSpec) -> list[str] | None:
    """The features a header row names, in the body's order; None for a row of values.

    A row mostly of feature names is a header. It may list the features in any order
    (columns are then matched by name), but must list each of them exactly once.
    """
    names = [cell.strip() for cell in cells]
    known = set(spec.columns)
    if 2 * sum(name in known for name in names) <= len(names):
        return None
    seen: set[str] = set()
    for name in names:
        if name not in known:
            raise invalid(f"header.{sent_name(name)}", "unknown field")
        if name in seen:
            raise invalid(f"header.{sent_name(name)}", "named twice in the header row")
        seen.add(name)
    missing = [name for name in spec.columns if name not in seen]
    if missing:
        raise invalid(f"header.{missing[0]}", "missing from the header row")
    return names


def plain_csv(body: bytes, spec: FeatureSpec, max_rows: int) -> Batch | None:
    """The batch from pandas' parser (which skips a byte-order mark too), or None where
    the body is not plain CSV."""
    width = len(spec.columns)
    lines = body.splitlines()
    # Every line exactly width - 1 commas: no short, long or blank line, which pandas
    # would pad, truncate or skip without a word.
    if width < 2 or b'"' in body or set(map(bytes.count, lines, repeat(b","))) != {width - 1}:
        return None
    lowered = body.lower()
    if b"true" in lowered or b"false" in lowered:  # pandas reads them as 1 and 0
        return None
    names = header_names(lines[0].decode("utf-8-sig").split(","), spec)
    if names is not None and names != spec.columns:
        return None  # features in another order: matched by name below
    header = names is not None
    check_rows(len(lines) - header, max_rows, "rows")
    dtypes = dict.fromkeys(spec.numeric, "float64") | dict.fromkeys(spec.categorical, object)
    try:
        frame = pd.read_csv(
            io.BytesIO(body),
            header=None,
            names=spec.columns,
            dtype=dtypes,
            skiprows=int(header),
            keep_default_na=False,
            na_values=[""],  # only a blank cell is missing; "nan" or "NA" text is an error
            index_col=False,
        )
    except ValueError:  # text in a numeric column: the csv module names the cell
        return None
    numeric = {name: frame[name].to_numpy() for name in spec.numeric}
    if any(np.isinf(values).any() for values in numeric.values()):
        return None
    categorical = {
        name: [category_text(cell) if type(cell) is str else None for cell in frame[name]]
        for name in spec.categorical
    }
    return Batch(spec, numeric, categorical, len(frame))


def csv_module_batch(text: str, spec: FeatureSpec, max_rows: int) -> Batch:
    """Any CSV the csv module reads, checked cell by cell."""
    try:
        rows = [row for row in csv.reader(io.StringIO(text), strict=True) if row]
    except csv.Error as error:  # an unclosed quote, a cell over the 128 KiB field limit
        raise RequestError(400, "malformed_csv", f"body is not valid CSV: {error}") from None
    names = header_names(rows[0], spec) if rows else None
    if names is not None:
        rows = rows[1:]
    order = names or spec.columns
    check_rows(len(rows), max_rows, "rows")
    width = len(spec.columns)
    if set(map(len, rows)) != {width}:
        index = next(i for i, row in enumerate(rows) if len(row) != width)
        raise invalid(
            f"rows[{index}]",
            f"has {len(rows[index])} values, expected {width} ({', '.join(order)})",
        )
    columns = dict(zip(order, zip(*rows, strict=True), strict=True))

    def where(index: int, name: str) -> str:
        return f"rows[{index}].{name}"

    return Batch(
        spec,
        numeric={name: _csv_numbers(columns[name], name, where) for name in spec.numeric},
        categorical={
            name: _as_trained(columns[name], name in spec.flags) for name in spec.categorical
        },
        rows=len(rows),
    )


def _csv_numbers(cells: tuple[str, ...], name: str, where: Where) -> np.ndarray:
    """A numeric CSV column as float64; a blank cell is a missing value (NaN)."""
    try:  # the common case in one pass (float() allows spaces around a number)
        joined = "".join(cells)
        if "_" in joined or not joined.isascii():
            # float() reads 4_5.1 as 45.1 and Arabic-Indic or full-width digits as
            # numbers; a CSV number is ASCII digits without "_"
            raise ValueError(joined)
        values = np.array([float(cell) if cell else math.nan for cell in cells])
    except ValueError:  # text, or a cell of spaces only: cell by cell, to name the bad one
        values = np.empty(len(cells))
        for index, cell in enumerate(cells):
            try:
                if "_" in cell or not cell.isascii():
                    raise ValueError(cell)
                values[index] = float(cell) if cell.strip() else math.nan
            except ValueError:
                raise invalid(where(index, name), "must be a number or null") from None
    for at in np.flatnonzero(~np.isfinite(values)):  # blank, or "nan" and "inf" written out
        if cells[at].strip():
            raise invalid(where(int(at), name), "must be a finite number (no NaN or infinity)")
    return values
