"""A fast path for requests: the fitted model replayed with plain NumPy.

scikit-learn spends milliseconds per call on checks and bookkeeping, however few
rows it gets; a one-row request pays that in full. The preprocessing that
``build_preprocessor`` makes works column by column (impute, scale, one-hot; or
numbers passed through and categories as ordinal codes): a numeric column is the
scaler's own ``(x - mean_) / scale_`` or the number itself (bit-identical, since a
tree compares values with thresholds), a categorical column a lookup table *read
off the fitted transformer by probing it*, not re-implemented. A linear model's
scores are one matrix product of its public ``coef_``. At start-up each replayed
part is checked against scikit-learn on random rows, with missing and unseen
values; if anything differs (a custom step, another estimator), that part stays
with scikit-learn.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ..model.artifact import LoadedModel
from .inputs import Batch

UNKNOWN = "\x00unknown category\x00"
# The replayed preprocessing must match exactly (a tree compares against
# thresholds); a linear model's scores may differ in the last bits.
TOLERANCE = 1e-9

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CategoryTable:
    rows: np.ndarray  # one output block per category, then unknown, then missing
    start: int  # first output column of this feature's block
    codes: dict[str | None, int]  # category -> row of ``rows``; None -> the missing row

    @classmethod
    def of(cls, categories: list[str], rows: np.ndarray, start: int) -> CategoryTable:
        codes: dict[str | None, int] = {value: i for i, value in enumerate(categories)}
        codes[None] = len(rows) - 1
        return cls(rows, start, codes)

    @property
    def unknown(self) -> int:
        return len(self.rows) - 2

    def lookup(self, values: list[str | None]) -> np.ndarray:
        get, unknown = self.codes.get, self.unknown
        return self.rows[[get(value, unknown) for value in values]]


class CompiledPreprocessor:
    def __init__(
        self,
        numeric: list[str],
        center: np.ndarray,
        divide: np.ndarray,
        fill: np.ndarray,
        tables: dict[str, CategoryTable],
        width: int,
        bounds: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.numeric = numeric
        self.center, self.divide, self.fill = center, divide, fill
        self.tables = tables
        self.width = width
        self.bounds = bounds  # valid (low, high) per numeric feature; outside is missing

    def transform(self, batch: Batch) -> np.ndarray:
        out = np.zeros((batch.rows, self.width))
        if self.numeric:
            x = np.array([batch.numeric[name] for name in self.numeric]).T  # rows x features
            missing = np.isnan(x)
            if self.bounds is not None:
                missing |= (x < self.bounds[0]) | (x > self.bounds[1])
            x = np.where(missing, self.fill, (x - self.center) / self.divide)
            out[:, : len(self.numeric)] = x
        for name, table in self.tables.items():
            block = table.lookup(batch.categorical[name])
            out[:, table.start : table.start + block.shape[1]] = block
        return out

    @classmethod
    def build(cls, model: LoadedModel, seed: int = 0) -> CompiledPreprocessor | None:
        """Compile ``model``'s preprocessing, or None when it cannot be replayed exactly."""
        try:
            compiled = cls._probe(model)
            difference = compiled._difference(model, seed)
        except _UnsupportedError as reason:
            log.info("fast path off: %s", reason)
            return None
        if difference > 0:
            log.warning("fast path off: differs from scikit-learn by %.3g", difference)
            return None
        log.info("fast path on: preprocessing replayed as lookups, checked on random rows")
        return compiled

    @classmethod
    def _probe(cls, model: LoadedModel) -> CompiledPreprocessor:
        pipeline = model.pipeline
        steps = getattr(pipeline, "named_steps", {})
        transformer = steps.get("preprocess")
        if not isinstance(transformer, ColumnTransformer) or list(steps) != ["preprocess", "model"]:
            raise _UnsupportedError("the pipeline is not (preprocess ColumnTransformer, model)")
        spec = model.spec
        blocks = [name for name, _, _ in transformer.transformers_ if name != "remainder"]
        kinds = (("numeric", spec.numeric), ("categorical", spec.categorical))
        expected = [name for name, columns in kinds if columns]
        if blocks != expected:
            raise _UnsupportedError(f"unexpected transformer blocks {blocks}")
        base = _base_row(model)
        width = transformer.transform(_frame([base], spec)).shape[1]

        numeric = list(spec.numeric)
        n = len(numeric)
        center, divide, fill = np.zeros(n), np.ones(n), np.zeros(n)
        if n:
            numeric_steps = transformer.named_transformers_["numeric"]
            step_types = [type(step) for _, step in getattr(numeric_steps, "steps", [])]
            passthrough = _is_identity(numeric_steps)
            if not passthrough and step_types not in (
                [SimpleImputer],
                [SimpleImputer, StandardScaler],
            ):
                raise _UnsupportedError(f"numeric steps {step_types} are not imputer [+ scaler]")
            scaler = None if passthrough else numeric_steps.steps[-1][1]
            if isinstance(scaler, StandardScaler):
                # The scaler's own arithmetic, so tree models see bit-identical values.
                center = scaler.mean_ if scaler.mean_ is not None else center
                divide = scaler.scale_ if scaler.scale_ is not None else divide
            gaps = {**base, **dict.fromkeys(numeric, np.nan)}
            fill = transformer.transform(_frame([gaps], spec))[0, :n]

        tables: dict[str, CategoryTable] = {}
        start = n
        for name in spec.categorical:
            categories = _categories(model, name)
            probes = [*categories, UNKNOWN, None]
            rows = [{**base, name: value} for value in probes]
            out = transformer.transform(_frame(rows, spec))[:, n:]
            # Output columns that change with the category (NaN, for a missing or
            # unknown ordinal code, equals NaN here).
            same = (out == out[0]) | (np.isnan(out) & np.isnan(out[0]))
            varying = np.flatnonzero(~same.all(axis=0))
            if varying.size == 0:
                raise _UnsupportedError(f"feature {name!r} does not change the output")
            first, last = int(varying.min()), int(varying.max())
            block = out[:, first : last + 1]
            tables[name] = CategoryTable.of(categories, np.ascontiguousarray(block), n + first)
            start = max(start, n + last + 1)
        if start > width:
            raise _UnsupportedError("probed blocks exceed the output width")
        bounds = None
        if model.valid_ranges:  # cleaning.ranges, as (low, high) columns per numeric feature
            unbounded = (-np.inf, np.inf)
            low, high = np.array([model.valid_ranges.get(name, unbounded) for name in numeric]).T
            bounds = (low, high)
        return cls(numeric, center, divide, fill, tables, width, bounds)

    def _difference(self, model: LoadedModel, seed: int) -> float:
        """Largest gap to scikit-learn on random rows, with missing and unknown values;
        infinite where one side has NaN and the other a number."""
        batch = probe_batch(model, seed)
        frame = model.within_ranges(batch.frame())
        expected = model.pipeline.named_steps["preprocess"].transform(frame)
        got = self.transform(batch)
        if not np.array_equal(np.isnan(got), np.isnan(expected)):
            return math.inf
        return float(np.max(np.abs(np.where(np.isnan(got), 0.0, got - expected)), initial=0.0))


def probe_batch(model: LoadedModel, seed: int, rows: int = 200) -> Batch:
    """Random rows over the schema's ranges and categories, with missing and unseen
    values, and values just outside the valid ranges."""
    rng = np.random.default_rng(seed)
    spec = model.spec
    schema = {f["name"]: f for f in model.metadata["features"]}
    numeric = {}
    for name in spec.numeric:
        low = schema[name].get("min") or 0.0
        high = schema[name].get("max") or 1.0
        values = rng.uniform(low - 1, high + 1, rows)
        if name in model.valid_ranges:
            below, above = model.valid_ranges[name]
            values[rng.random(rows) < 0.05] = below - 1
            values[rng.random(rows) < 0.05] = above + 1
        values[rng.random(rows) < 0.1] = np.nan
        numeric[name] = values
    categorical: dict[str, list[str | None]] = {}
    for name in spec.categorical:
        options: list[str | None] = [*_categories(model, name), "never seen", None]
        categorical[name] = [options[i] for i in rng.integers(0, len(options), rows)]
    return Batch(spec, numeric, categorical, rows)


Head = Callable[[np.ndarray], np.ndarray]


def linear_head(model: LoadedModel, features: np.ndarray) -> Head | None:
    """``predict_proba`` (classifier) or ``predict`` (regressor) of a linear model as
    one matrix product, or None for other estimators or when it differs on ``features``."""
    estimator = model.pipeline.named_steps.get("model")
    coef = np.asarray(getattr(estimator, "coef_", np.zeros(0)), dtype=float)
    intercept = np.asarray(getattr(estimator, "intercept_", 0.0), dtype=float)
    head: Head
    if type(estimator) is LogisticRegression and coef.ndim == 2:
        weights = coef.T.copy()
        if coef.shape[0] == 1:  # binary: the sigmoid of one score

            def head(x: np.ndarray) -> np.ndarray:
                p = 1.0 / (1.0 + np.exp(-(x @ weights + intercept)))
                return np.hstack([1 - p, p])
        else:

            def head(x: np.ndarray) -> np.ndarray:
                z = x @ weights + intercept
                e = np.exp(z - z.max(axis=1, keepdims=True))
                return e / e.sum(axis=1, keepdims=True)

        expected = estimator.predict_proba(features)
    elif type(estimator) in (Ridge, LinearRegression) and coef.ndim == 1:

        def head(x: np.ndarray) -> np.ndarray:
            return x @ coef + intercept

        expected = estimator.predict(features)
    else:
        return None
    if float(np.max(np.abs(head(features) - expected))) > TOLERANCE:
        log.warning("linear fast path off: differs from scikit-learn")
        return None
    return head


def _is_identity(step: Any) -> bool:
    """A ``"passthrough"`` block, as given or as scikit-learn stores it once fitted."""
    if isinstance(step, str):
        return step == "passthrough"
    return isinstance(step, FunctionTransformer) and step.func is None


class _UnsupportedError(Exception):
    """The fitted preprocessing is not the column-wise kind this module replays."""


def _categories(model: LoadedModel, name: str) -> list[str]:
    schema = next(f for f in model.metadata["features"] if f["name"] == name)
    return [str(c) for c in schema.get("categories", [])]


def _base_row(model: LoadedModel) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(model.spec.numeric, 0.0)
    for name in model.spec.categorical:
        categories = _categories(model, name)
        base[name] = categories[0] if categories else UNKNOWN
    return base


def _frame(rows: list[dict[str, Any]], spec: Any) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=spec.columns)
    for name in spec.categorical:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), np.nan)
    return frame
