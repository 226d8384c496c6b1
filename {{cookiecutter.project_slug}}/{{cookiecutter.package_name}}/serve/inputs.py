"""Request bodies to model input: parse, check against the feature schema, coerce.

Every rule failure becomes a ``RequestError`` with the HTTP status, a stable error
code, the offending field and the rule, and never echoes the payload back. The
checks work column by column, so a 10,000-row batch costs a few milliseconds.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from operator import eq, itemgetter
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..data_processing.validation import FeatureSpec, category_string

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


def parse_json_instances(body: bytes, max_rows: int) -> list[Any]:
    """``{"instances": [...]}`` (or a bare list of records) to the list of records."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, "malformed_json", f"body is not valid JSON: {error.msg}") from None
    instances = document.get("instances") if isinstance(document, dict) else document
    if isinstance(document, dict) and set(document) - {"instances"}:
        extra = sorted(set(document) - {"instances"})[0]
        raise invalid(extra, 'unknown top-level field; send {"instances": [...]}')
    if not isinstance(instances, list):
        raise invalid("instances", "required, and must be a list of records")
    check_rows(len(instances), max_rows)
    return instances


def check_rows(rows: int, max_rows: int) -> None:
    if rows == 0:
        raise invalid("instances", "empty batch; send at least one record")
    if rows > max_rows:
        raise RequestError(
            413,
            "too_many_rows",
            f"instances: {rows} rows exceed the limit of {max_rows}",
            "instances",
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


def records_to_batch(records: list[Any], spec: FeatureSpec) -> Batch:
    """Check every record against the schema, column by column."""
    expected = spec.columns
    keys = set(expected)
    # map() keeps these per-record checks in C: a 10,000-row batch takes a millisecond.
    if set(map(type, records)) != {dict} or not all(map(eq, map(dict.keys, records), repeat(keys))):
        _explain_record_shape(records, keys, expected)
    columns = {name: list(map(itemgetter(name), records)) for name in expected}
    return _columns_to_batch(columns, spec, lambda i, name: f"instances[{i}].{name}")


def _explain_record_shape(records: list[Any], keys: set[str], expected: list[str]) -> None:
    for index, record in enumerate(records):
        where = f"instances[{index}]"
        if not isinstance(record, dict):
            raise invalid(where, "must be an object of feature values")
        unknown = [name for name in record if name not in keys]
        if unknown:
            raise invalid(f"{where}.{unknown[0]}", "unknown field")
        missing = [name for name in expected if name not in record]
        if missing:
            raise invalid(f"{where}.{missing[0]}", "missing field (send null for an unknown value)")


NUMBER = frozenset({int, float, type(None)})
CATEGORY = frozenset({str, int, float, type(None)})


def _columns_to_batch(columns: dict[str, list[Any]], spec: FeatureSpec, where: Where) -> Batch:
    numeric: dict[str, np.ndarray] = {}
    for name in spec.numeric:
        values = columns[name]
        if not NUMBER.issuperset(map(type, values)):
            index = next(i for i, v in enumerate(values) if type(v) not in NUMBER)
            raise invalid(where(index, name), "must be a number or null")
        array = np.array(values, dtype="float64")
        if not np.isfinite(array).all():
            present = np.array([v is not None for v in values])
            bad = present & ~np.isfinite(array)
            if bad.any():
                index = int(np.flatnonzero(bad)[0])
                raise invalid(where(index, name), "must be a finite number (no NaN or infinity)")
        numeric[name] = array
    categorical: dict[str, list[str | None]] = {}
    for name in spec.categorical:
        values = columns[name]
        types = set(map(type, values))
        if not CATEGORY.issuperset(types):
            index = next(i for i, v in enumerate(values) if type(v) not in CATEGORY)
            raise invalid(where(index, name), "must be a string, a number or null")
        if types <= {str, type(None)}:
            categorical[name] = values
            continue
        for index, value in enumerate(values):
            if type(value) is float and not math.isfinite(value):
                raise invalid(where(index, name), "must be a finite number (no NaN or infinity)")
        categorical[name] = [None if v is None else category_string(v) for v in values]
    rows = len(next(iter(columns.values()))) if columns else 0
    return Batch(spec, numeric, categorical, rows)


def parse_csv(body: bytes, spec: FeatureSpec, max_rows: int) -> Batch:
    """CSV rows in feature order, with or without a header row naming the features."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "malformed_csv", "body is not UTF-8 text") from None
    rows = list(csv.reader(io.StringIO(text)))
    rows = [row for row in rows if row]
    if rows and [cell.strip() for cell in rows[0]] == spec.columns:
        rows = rows[1:]
    check_rows(len(rows), max_rows)
    width = len(spec.columns)
    for index, row in enumerate(rows):
        if len(row) != width:
            raise invalid(
                f"rows[{index}]",
                f"has {len(row)} values, expected {width} ({', '.join(spec.columns)})",
            )
    columns: dict[str, list[Any]] = {
        name: [_csv_value(row[position], name in spec.numeric) for row in rows]
        for position, name in enumerate(spec.columns)
    }
    return _columns_to_batch(columns, spec, lambda i, name: f"rows[{i}].{name}")


def _csv_value(cell: str, numeric: bool) -> Any:
    cell = cell.strip()
    if cell == "":
        return None
    if not numeric:
        return cell
    try:
        return float(cell)
    except ValueError:
        return cell  # reported by the type check with its row and column
