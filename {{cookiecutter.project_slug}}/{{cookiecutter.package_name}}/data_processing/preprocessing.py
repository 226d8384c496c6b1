"""The feature transformer, fitted on training data only and shipped inside the model.

``build_pipeline`` puts the ``ColumnTransformer`` and the estimator into one
scikit-learn ``Pipeline``; the saved artifact is that pipeline, so serving applies
exactly the imputation, scaling and encoding that training fitted.

Histogram gradient boosting gets what it handles best instead: numbers as they are
(it bins them and learns where missing values go) and categories as ordinal codes it
splits on natively, as scikit-learn recommends; no imputation, scaling or one-hot
copies of the data, which makes its fits faster on large data.

``max_categories`` is applied only when a column reaches it: below that it groups
nothing, and scikit-learn's encoders, to apply it, count every text value in a Python
loop (about half a second per million values, a third of a ridge fit on a million rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from ..config import PreprocessingParams
from .validation import FeatureSpec

# Histogram gradient boosting takes at most this many categories per feature.
NATIVE_MAX_CATEGORIES = 255


def takes_categories_natively(estimator: BaseEstimator) -> bool:
    """True for estimators that split on categories themselves (histogram gradient boosting)."""
    return "categorical_features" in estimator.get_params()


def most_categories(x: pd.DataFrame, spec: FeatureSpec) -> int:
    """The most distinct values of any categorical column of ``x``, missing counted as one."""
    return max((x[name].nunique(dropna=False) for name in spec.categorical), default=0)


def category_cap(limit: int | None, most: int | None) -> int | None:
    """``limit`` where it can group something, else None (no cap).

    scikit-learn keeps ``limit - 1`` categories and groups the rest once a column has
    ``limit`` of them; below that the cap changes no output. ``most`` None: unknown data.
    """
    if limit is None or (most is not None and most < limit):
        return None
    return limit


def build_preprocessor(
    spec: FeatureSpec,
    params: PreprocessingParams,
    native: bool = False,
    most: int | None = None,
) -> ColumnTransformer:
    """Impute, scale and one-hot encode; or, with ``native``, pass numbers through and
    encode categories as ordinal codes, unknown and missing ones as NaN. ``most``:
    ``most_categories`` of the training data, which decides whether the cap applies."""
    numeric: str | Pipeline
    categorical: OneHotEncoder | OrdinalEncoder | Pipeline
    if native:
        numeric = "passthrough"
        limit = min(params.max_categories or NATIVE_MAX_CATEGORIES, NATIVE_MAX_CATEGORIES)
        categorical = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=category_cap(limit, most),
        )
    else:
        numeric_steps: list[tuple[str, object]] = [
            ("impute", SimpleImputer(strategy=params.numeric_impute))
        ]
        if params.scale:
            # In place on the imputer's output, always a fresh array: one copy of the
            # numeric block less (train's peak memory at 1M rows, 380 to 360 MB).
            numeric_steps.append(("scale", StandardScaler(copy=False)))
        numeric = Pipeline(numeric_steps)
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy=params.categorical_impute, fill_value="missing")),
                (
                    "encode",
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        max_categories=category_cap(params.max_categories, most),
                        sparse_output=False,
                    ),
                ),
            ]
        )
    transformers: list[tuple[str, object, list[str]]] = []
    if spec.numeric:
        transformers.append(("numeric", numeric, spec.numeric))
    if spec.categorical:
        transformers.append(("categorical", categorical, spec.categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def build_pipeline(
    spec: FeatureSpec,
    params: PreprocessingParams,
    estimator: BaseEstimator,
    most: int | None = None,
) -> Pipeline:
    """The preprocessor and ``estimator`` in one pipeline; ``most`` as in ``build_preprocessor``."""
    native = takes_categories_natively(estimator)
    if native:
        # The ordinal codes follow the numeric columns in the transformer's output.
        first = len(spec.numeric)
        codes = list(range(first, first + len(spec.categorical)))
        estimator = clone(estimator).set_params(categorical_features=codes or None)
    preprocessor = build_preprocessor(spec, params, native, most)
    return Pipeline([("preprocess", preprocessor), ("model", estimator)])
