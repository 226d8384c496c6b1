"""The loaded model behind the API: one instance per process, built at start-up."""

from __future__ import annotations

from typing import Any

import numpy as np
import sklearn

from ..model.artifact import LoadedModel
from .compiled import CompiledPreprocessor, Head, linear_head, probe_batch
from .inputs import Batch


class Predictor:
    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.pipeline = model.pipeline
        # Each server worker handles one request at a time: estimator-level
        # parallelism (a random forest trains with n_jobs=-1) would only add thread
        # start-up to every call. Unset n_jobs is left alone: LogisticRegression
        # deprecates it, and a later fit of this pipeline would warn.
        if self.pipeline.get_params().get("model__n_jobs") not in (None, 1):
            self.pipeline.set_params(model__n_jobs=1)
        self.probabilistic = model.is_classifier and hasattr(self.pipeline, "predict_proba")
        self.classes = [_plain(c) for c in self.pipeline.classes_] if model.is_classifier else None
        self.preprocess = CompiledPreprocessor.build(model)
        self.head: Head | None = None
        self.head_is_linear = False
        if self.preprocess is not None:
            estimator = self.pipeline.named_steps["model"]
            self.head = linear_head(model, self.preprocess.transform(probe_batch(model, seed=1)))
            self.head_is_linear = self.head is not None
            if self.head is None:
                self.head = estimator.predict_proba if self.probabilistic else estimator.predict

    def predict(self, batch: Batch) -> dict[str, Any]:
        """Predictions, plus class probabilities for a classifier.

        The label is the most probable class, which is how every classifier
        family in train.py predicts, so it equals ``pipeline.predict``.
        """
        if self.preprocess is not None and self.head is not None:
            features = self.preprocess.transform(batch)
            if self.head_is_linear:
                scores = self.head(features)
            else:  # inputs were checked against the schema: skip scikit-learn's re-checks
                with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
                    scores = self.head(features)
        else:
            with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
                pipeline = self.pipeline
                method = pipeline.predict_proba if self.probabilistic else pipeline.predict
                scores = method(self.model.within_ranges(batch.frame()))
        if self.probabilistic:
            labels = self.pipeline.classes_[scores.argmax(axis=1)]
            return {
                "predictions": _jsonable(labels),
                "classes": self.classes,
                "probabilities": scores,
            }
        return {"predictions": _jsonable(scores)}


def _jsonable(values: np.ndarray) -> np.ndarray | list[Any]:
    """Numeric arrays go to orjson as they are; labels of other types as a list."""
    return values if values.dtype.kind in "fiub" else values.tolist()


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
