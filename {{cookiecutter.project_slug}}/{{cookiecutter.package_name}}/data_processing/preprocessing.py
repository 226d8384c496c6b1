"""The feature transformer, fitted on training data only and shipped inside the model.

``build_pipeline`` puts the ``ColumnTransformer`` and the estimator into one
scikit-learn ``Pipeline``; the saved artifact is that pipeline, so serving applies
exactly the imputation, scaling and encoding that training fitted.

Histogram gradient boosting gets what it handles best instead: numbers as they are
(it bins them and learns where missing values go) and categories as ordinal codes it
splits on natively, as scikit-learn recommends; no imputation, scaling or one-hot
copies of the data, which makes its fits faster on large data.
"""

from __future__ import annotations

import numpy as np
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


def build_preprocessor(
    spec: FeatureSpec, params: PreprocessingParams, native: bool = False
) -> ColumnTransformer:
    """Impute, scale and one-hot encode; or, with ``native``, pass numbers through and
    encode categories as ordinal codes, unknown and missing ones as NaN."""
    numeric: str | Pipeline
    categorical: OneHotEncoder | OrdinalEncoder | Pipeline
    if native:
        numeric = "passthrough"
        limit = min(params.max_categories or NATIVE_MAX_CATEGORIES, NATIVE_MAX_CATEGORIES)
        categorical = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=limit,
        )
    else:
        numeric_steps: list[tuple[str, object]] = [
            ("impute", SimpleImputer(strategy=params.numeric_impute))
        ]
        if params.scale:
            numeric_steps.append(("scale", StandardScaler()))
        numeric = Pipeline(numeric_steps)
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy=params.categorical_impute, fill_value="missing")),
                (
                    "encode",
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        max_categories=params.max_categories,
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
    spec: FeatureSpec, params: PreprocessingParams, estimator: BaseEstimator
) -> Pipeline:
    native = takes_categories_natively(estimator)
    if native:
        # The ordinal codes follow the numeric columns in the transformer's output.
        first = len(spec.numeric)
        codes = list(range(first, first + len(spec.categorical)))
        estimator = clone(estimator).set_params(categorical_features=codes or None)
    preprocessor = build_preprocessor(spec, params, native)
    return Pipeline([("preprocess", preprocessor), ("model", estimator)])
