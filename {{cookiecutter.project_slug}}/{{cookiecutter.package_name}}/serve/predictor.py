"""The loaded model behind the API: one instance per process, built at start-up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..model.artifact import LoadedModel


class Predictor:
    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.pipeline = model.pipeline
        # Each server worker handles one request at a time: estimator-level
        # parallelism would only add thread start-up to every call.
        if "model__n_jobs" in self.pipeline.get_params():
            self.pipeline.set_params(model__n_jobs=1)
        self.probabilistic = model.is_classifier and hasattr(self.pipeline, "predict_proba")
        self.classes = [_plain(c) for c in self.pipeline.classes_] if model.is_classifier else None

    def predict(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Predictions, plus class probabilities for a classifier.

        The label is the most probable class, which is how every classifier
        family in train.py predicts, so it equals ``pipeline.predict``.
        """
        if self.probabilistic:
            proba = self.pipeline.predict_proba(frame)
            labels = np.asarray(self.pipeline.classes_)[proba.argmax(axis=1)]
            return {
                "predictions": labels.tolist(),
                "classes": self.classes,
                "probabilities": proba.round(6).tolist(),
            }
        return {"predictions": np.asarray(self.pipeline.predict(frame)).tolist()}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
