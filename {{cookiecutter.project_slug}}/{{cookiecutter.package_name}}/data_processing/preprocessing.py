"""The feature transformer, fitted on training data only and shipped inside the model.

``build_pipeline`` puts the ``ColumnTransformer`` and the estimator into one
scikit-learn ``Pipeline``; the saved artifact is that pipeline, so serving applies
exactly the imputation, scaling and encoding that training fitted.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..config import PreprocessingParams
from .validation import FeatureSpec


def build_preprocessor(spec: FeatureSpec, params: PreprocessingParams) -> ColumnTransformer:
    numeric_steps: list[tuple[str, object]] = [
        ("impute", SimpleImputer(strategy=params.numeric_impute))
    ]
    if params.scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
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
    transformers = []
    if spec.numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), spec.numeric))
    if spec.categorical:
        transformers.append(("categorical", Pipeline(categorical_steps), spec.categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def build_pipeline(
    spec: FeatureSpec, params: PreprocessingParams, estimator: BaseEstimator
) -> Pipeline:
    return Pipeline([("preprocess", build_preprocessor(spec, params)), ("model", estimator)])
