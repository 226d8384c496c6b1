"""Which columns are features, of what kind, and checks that fail with one clear line.

``FeatureSpec.coerce`` is the single place that turns raw values into the types the
model sees: training, validation and serving all call it, so a category such as
``4`` means the same thing in a CSV file and in a JSON request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..config import Params
from ..errors import ConfigError, DataError
from ..files import MISSING_TEXT, require_columns

log = logging.getLogger(__name__)

# An object column is reported as "numbers with stray text" when at least this
# share of its values parse as numbers.
MOSTLY_NUMERIC = 0.9
# A classification target of more distinct fractional numbers than this is taken for a
# regression target set up as classification.
MAX_FRACTIONAL_CLASSES = 20


# pandas reads a CSV column of only these as booleans, which train as "True"/"False".
FLAG_TEXT = {
    "True": "True",
    "TRUE": "True",
    "true": "True",
    "False": "False",
    "FALSE": "False",
    "false": "False",
}


@dataclass(frozen=True)
class FeatureSpec:
    """Feature names by kind; ``columns`` keeps the order of the data file. ``flags``:
    the categorical features a model learnt as true/false (read from a file as booleans),
    whose text is read as pandas read it, so "true" and "TRUE" are "True" too."""

    numeric: list[str]
    categorical: list[str]
    columns: list[str]
    flags: frozenset[str] = frozenset()

    @classmethod
    def ordered(cls, numeric: list[str], categorical: list[str], order: list[str]) -> FeatureSpec:
        """Every list in ``order`` (the file's), as a loaded model's card rebuilds them."""
        numbers, categories = set(numeric), set(categorical)
        return cls(
            [c for c in order if c in numbers],
            [c for c in order if c in categories],
            [c for c in order if c in numbers or c in categories],
        )

    def coerce(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Numeric columns as float64, categorical ones as strings (missing stays NaN)."""
        numeric = set(self.numeric)
        return pd.DataFrame(
            {
                name: pd.to_numeric(frame[name]).astype("float64")
                if name in numeric
                else as_category_strings(frame[name], name in self.flags)
                for name in self.columns
            },
            index=frame.index,
        )


def category_string(value: object) -> str:
    """One category value as text: whole numbers print as integers (4.0 -> "4")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def category_text(text: str) -> str | None:
    """Category text as the model knows it: no surrounding spaces ("Biscoe " is
    Biscoe), and blank text or a missing-value marker ("NA", "null": ``MISSING_TEXT``,
    which reading a file applies too) is a missing value. Training and serving both
    apply it."""
    text = text.strip()
    return None if text in MISSING_TEXT else text


def as_category_strings(series: pd.Series, flag: bool = False) -> pd.Series:
    """``category_string`` then ``category_text`` over a column, vectorised; missing
    values stay NaN.

    Each distinct value is converted once and its string shared by every row that
    holds it, so a million rows of a few categories hold a few string objects, not
    a million. Object columns of mixed Python values (parsed JSON, say) are
    converted value by value: there 4 and 4.0 are distinct values. ``flag``: a
    feature learnt as true/false, whose "true" and "TRUE" are "True" (``FLAG_TEXT``).
    """
    if series.dtype == object and ptypes.infer_dtype(series, skipna=True) != "string":
        values = _category_strings(series)
        if flag:
            values = values.map(FLAG_TEXT).where(values.isin(FLAG_TEXT), values).astype(object)
        return values
    codes, distinct = pd.factorize(series)  # a missing value gets code -1
    text = _category_strings(pd.Series(distinct, dtype=series.dtype)).to_numpy(dtype=object)
    if flag:
        text = np.array([FLAG_TEXT.get(value, value) for value in text], dtype=object)
    shared = np.append(text, np.nan)[codes]  # code -1 picks the appended NaN
    return pd.Series(shared, index=series.index, name=series.name, dtype=object)


def _category_strings(series: pd.Series) -> pd.Series:
    present = series.notna()
    if ptypes.is_float_dtype(series):
        whole = present & (series == np.round(series))
        text = series.astype(str).astype(object)
        text[whole] = series[whole].astype("int64").astype(str)
    else:
        text = series.astype(str).astype(object)
    text = text.where(present, np.nan).map(category_text, na_action="ignore")
    # astype: a column with nothing present would come back float64, which the encoders
    # fitted on text refuse.
    return text.where(text.notna(), np.nan).astype(object)


def outside_range(values: pd.Series, low: float, high: float) -> pd.Series:
    """Where a number lies outside ``[low, high]`` (a ``cleaning.ranges`` entry): such
    values are missing to the model, in training and in serving. Missing is not outside."""
    return (values < low) | (values > high)


def infer_features(frame: pd.DataFrame, params: Params, path: Path) -> FeatureSpec:
    """Feature kinds: the columns ``features.numeric`` and ``features.categorical`` list
    have the kind they are listed under; every other column not dropped is inferred from
    its dtype (numbers numeric, the rest categorical)."""
    target = params.data.target
    wanted = params.features
    columns = [str(c) for c in frame.columns]
    require_columns(path, columns, [target], "target")
    for role, names in (("numeric", wanted.numeric), ("categorical", wanted.categorical)):
        if names and target in names:
            raise ConfigError(f"params: features.{role} lists the target {target!r}")
        require_columns(path, columns, list(names or []), f"feature ({role})")
        for name in names or []:
            if frame[name].isna().all():
                raise DataError(f"{path}: column {name!r} (features.{role}) has no values")
    both = set(wanted.numeric or []) & set(wanted.categorical or [])
    if both:
        raise ConfigError(
            f"params: features: {sorted(both)[0]!r} is listed as numeric and as categorical"
        )
    for role, names in (("numeric", wanted.numeric), ("categorical", wanted.categorical)):
        dropped = [name for name in names or [] if name in wanted.drop]
        if dropped:
            raise ConfigError(
                f"params: features: {dropped[0]!r} is listed in features.{role} and features.drop"
            )
    empty = [c for c in frame.columns if c != target and frame[c].isna().all()]
    if empty:
        log.warning("%s: no values in %s; not used as features", path, ", ".join(map(repr, empty)))
    candidates = [
        c for c in frame.columns if c != target and c not in wanted.drop and c not in empty
    ]
    # A list sets the kind of the columns it names; every other column is inferred.
    listed = {*(wanted.numeric or []), *(wanted.categorical or [])}
    inferred = [c for c in candidates if c not in listed]
    numeric = [*(wanted.numeric or [])] + [
        c
        for c in inferred
        if ptypes.is_numeric_dtype(frame[c]) and not ptypes.is_bool_dtype(frame[c])
    ]
    categorical = [*(wanted.categorical or [])] + [c for c in inferred if c not in numeric]
    if not numeric and not categorical:
        raise DataError(f"{path}: no feature columns left besides the target {target!r}")
    return FeatureSpec.ordered(numeric, categorical, columns)


def columns_present(
    setting: str, names: Iterable[str], columns: list[str], source: object
) -> list[str]:
    """The columns of ``names`` that the data has; a warning names the others.

    Per-column rules in params.yaml (cleaning ranges, segment columns) are written
    for one dataset: pointed at another file, the rules for columns it lacks step
    aside with a warning instead of stopping the pipeline, so changing
    ``data.source`` and ``data.target`` is enough to train on a new file.
    """
    names = list(names)
    absent = [name for name in names if name not in columns]
    if absent:
        log.warning(
            "params: %s: %s not a column of %s; not applied (columns: %s)",
            setting,
            ", ".join(map(repr, absent)),
            source,
            ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else ""),
        )
    return [name for name in names if name in columns]


def check_numeric(frame: pd.DataFrame, spec: FeatureSpec, params: Params, path: Path) -> None:
    """Fail on text in a numeric column, or in an inferred column that is nearly all numbers."""
    declared = set(params.features.categorical or [])
    suspects = [*spec.numeric] + [
        c for c in spec.categorical if c not in declared and _mostly_numeric(frame[c])
    ]
    for column in suspects:
        values = frame[column]
        parsed = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & parsed.isna()
        if bad.any():
            first = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(
                f"{path}: column {column!r} is numeric but has {int(bad.sum())} non-numeric "
                f"value(s), first {values.iloc[first]!r} on line {first + 2}; fix the values, "
                "or list the column in features.categorical to treat it as text"
            )
        check_finite(values, parsed, f"column {column!r}", path)


def check_finite(values: pd.Series, parsed: pd.Series, what: str, path: Path) -> None:
    """No infinity among the numbers: no model can learn from it, and serving refuses it."""
    infinite = np.isinf(parsed.to_numpy(dtype="float64"))
    if infinite.any():
        first = int(infinite.nonzero()[0][0])
        value = values.iloc[first]
        shown = value.item() if isinstance(value, np.generic) else value  # -inf, not np.float64
        raise DataError(
            f"{path}: {what} has {int(infinite.sum())} infinite value(s), first {shown!r} "
            f"on line {first + 2}; leave such cells blank (missing) or fix them"
        )


def _mostly_numeric(values: pd.Series) -> bool:
    if ptypes.is_numeric_dtype(values) or ptypes.is_bool_dtype(values):
        return False
    present = values.dropna()
    if present.empty:
        return False
    parsed = pd.to_numeric(present, errors="coerce")
    return bool(parsed.notna().mean() >= MOSTLY_NUMERIC)


def check_target(frame: pd.DataFrame, params: Params, path: Path) -> None:
    name = params.data.target
    target = frame[name]
    if target.notna().sum() == 0:
        raise DataError(f"{path}: target column {name!r} has no values")
    if params.is_classifier:
        classes = target.dropna().unique()
        if len(classes) < 2:
            raise DataError(
                f"{path}: target column {name!r} has a single class "
                f"{classes[0]!r}; classification needs at least two"
            )
        known = target.dropna()
        fractional = ptypes.is_float_dtype(target) and not np.array_equal(known, np.round(known))
        if fractional and len(classes) > MAX_FRACTIONAL_CLASSES:
            raise DataError(
                f"{path}: target column {name!r} holds {len(classes)} distinct fractional "
                "numbers, not classes; set data.task: regression to predict a number"
            )
        return
    if not ptypes.is_numeric_dtype(target):
        parsed = pd.to_numeric(target, errors="coerce")
        bad = target.notna() & parsed.isna()
        first = bad.to_numpy().nonzero()[0][0]
        raise DataError(
            f"{path}: regression target {name!r} has non-numeric value "
            f"{target.iloc[first]!r} on line {first + 2}"
        )
    check_finite(target, target, f"regression target {name!r}", path)
