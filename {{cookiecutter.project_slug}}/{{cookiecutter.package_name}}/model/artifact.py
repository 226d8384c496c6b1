"""Save and load the model: a joblib file plus a metadata JSON (the model card).

Trust model: joblib files are pickles, and loading a pickle runs code. Only load
artifacts you produced yourself or fetched from storage you control. The sha256
recorded in metadata.json is checked before unpickling, which catches corrupt,
truncated or swapped files; it is not a signature, since whoever can replace the
model can also rewrite its metadata.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline

from ..data_processing.validation import FLAG_TEXT, FeatureSpec, outside_range
from ..errors import DataError, ModelError
from ..files import atomic_path, read_json, sha256_file, write_json

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"
REQUIRED_KEYS = ("model_version", "task", "target", "features", "artifact", "versions")

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    pipeline: Pipeline
    metadata: dict[str, Any]
    metrics: dict[str, Any] | None = field(default=None)

    @property
    def version(self) -> str:
        return str(self.metadata["model_version"])

    @property
    def is_classifier(self) -> bool:
        return self.metadata["task"] == "classification"

    @cached_property
    def spec(self) -> FeatureSpec:
        features = self.metadata["features"]
        return FeatureSpec(
            numeric=[f["name"] for f in features if f["kind"] == "numeric"],
            categorical=[f["name"] for f in features if f["kind"] == "categorical"],
            columns=[f["name"] for f in features],
            flags=frozenset(
                f["name"]
                for f in features
                if f["kind"] == "categorical"
                and f.get("categories")
                and set(f["categories"]) <= set(FLAG_TEXT.values())
            ),
        )

    @property
    def classes(self) -> list[Any]:
        return list(self.metadata.get("classes") or [])

    @cached_property
    def valid_ranges(self) -> dict[str, tuple[float, float]]:
        """``cleaning.ranges`` of the numeric features, from the params trained with."""
        ranges = self.metadata.get("params", {}).get("cleaning", {}).get("ranges") or {}
        return {
            name: (float(bounds[0]), float(bounds[1]))
            for name, bounds in ranges.items()
            if name in self.spec.numeric
        }

    def within_ranges(self, x: pd.DataFrame) -> pd.DataFrame:
        """``x`` with values outside ``valid_ranges`` missing: cleaning made them missing
        in the training data, so the model imputes them at prediction time as well."""
        if not self.valid_ranges:
            return x
        return x.assign(
            **{
                name: x[name].mask(outside_range(x[name], low, high))
                for name, (low, high) in self.valid_ranges.items()
            }
        )

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input from ``frame``: exactly the trained features, coerced, with
        values outside the cleaning ranges missing."""
        missing = [name for name in self.spec.columns if name not in frame.columns]
        if missing:
            raise DataError(
                f"input lacks feature column {missing[0]!r} "
                f"(expected: {', '.join(self.spec.columns)})"
            )
        return self.within_ranges(self.spec.coerce(frame))

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.pipeline.predict(self.features(frame))


def save_model(pipeline: Pipeline, metadata: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    """Write the artifact and its metadata; returns the metadata as written."""
    target = model_dir / MODEL_FILE
    with atomic_path(target) as tmp:
        joblib.dump(pipeline, tmp)
        digest = sha256_file(tmp)
        created = datetime.now(UTC)
        metadata = {
            "model_version": f"{created:%Y%m%dT%H%M%SZ}-{digest[:8]}",
            "created_at": created.isoformat(timespec="seconds"),
            **metadata,
            "artifact": {
                "file": MODEL_FILE,
                "format": "joblib",
                "sha256": digest,
                "bytes": tmp.stat().st_size,
            },
        }
    write_json(model_dir / METADATA_FILE, metadata)
    return metadata


def publish(staged: Path, model_dir: Path, metrics: dict[str, Any]) -> None:
    """Put a model that passed its gates, and its metrics, over the served one, file by
    file atomically.

    The model card goes last; a reader that meets a new artifact beside an old
    card refuses it on the sha256 check rather than load a mismatched pair.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(model_dir / MODEL_FILE) as tmp:
        shutil.copyfile(staged / MODEL_FILE, tmp)
    write_json(model_dir / METRICS_FILE, metrics)
    with atomic_path(model_dir / METADATA_FILE) as tmp:
        shutil.copyfile(staged / METADATA_FILE, tmp)


def load_model(model_dir: Path) -> LoadedModel:
    """Load a model, refusing one that is missing, altered or built for another scikit-learn."""
    meta_path = model_dir / METADATA_FILE
    if not meta_path.is_file():
        raise ModelError(f"{meta_path}: not found; train a model first (make pipeline)")
    metadata = check_metadata(meta_path)
    name = str(metadata["artifact"].get("file", ""))
    if not name or Path(name).name != name:
        raise ModelError(f"{meta_path}: artifact.file={name!r} must be a file name in {model_dir}")
    artifact = model_dir / name
    if not artifact.is_file():
        raise ModelError(f"{artifact}: model artifact not found")
    expected, actual = metadata["artifact"].get("sha256"), sha256_file(artifact)
    if actual != expected:
        raise ModelError(
            f"{artifact}: sha256 {actual[:16]}... does not match {str(expected)[:16]}... in "
            f"{METADATA_FILE}; the file changed after training, refusing to unpickle it"
        )
    check_sklearn_version(str(metadata["versions"].get("scikit-learn", "")), artifact)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", sklearn.exceptions.InconsistentVersionWarning)
            pipeline = joblib.load(artifact)
    except Exception as error:  # unpickling raises arbitrary types for a bad file
        raise ModelError(
            f"{artifact}: cannot be loaded ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(pipeline, Pipeline):
        kind = type(pipeline).__name__
        raise ModelError(f"{artifact}: holds a {kind}, not a scikit-learn Pipeline")
    metrics = read_metrics(model_dir / METRICS_FILE, str(metadata["model_version"]))
    log.info("loaded model %s from %s", metadata["model_version"], model_dir)
    return LoadedModel(pipeline=pipeline, metadata=metadata, metrics=metrics)


def check_metadata(path: Path) -> dict[str, Any]:
    """The model card, refused in one line when it is not the shape training writes."""
    try:
        metadata = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"{path}: must hold a JSON object, not {type(metadata).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in metadata]
    if missing:
        raise ModelError(f"{path}: metadata lacks {missing[0]!r}")
    for key in ("artifact", "versions"):
        if not isinstance(metadata[key], dict):
            raise ModelError(f"{path}: {key} must be a JSON object")
    features = metadata["features"]
    if not isinstance(features, list) or not all(
        isinstance(f, dict) and {"name", "kind"} <= f.keys() for f in features
    ):
        raise ModelError(f"{path}: features must be a list of objects with name and kind")
    return metadata


def read_metrics(path: Path, version: str) -> dict[str, Any] | None:
    """The held-out metrics shown with the model; without them it still serves."""
    if not path.is_file():
        return None
    try:
        metrics = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError):
        metrics = None
    if not isinstance(metrics, dict):
        log.warning("%s: not a JSON object of metrics; not shown", path)
        return None
    if metrics.get("model_version") != version:
        log.warning("%s: metrics of another model version; not shown", path)
        return None
    return metrics


def check_sklearn_version(trained: str, artifact: Path) -> None:
    """Pickles are only portable within one scikit-learn minor release."""
    current = sklearn.__version__
    if trained.split(".")[:2] != current.split(".")[:2]:
        raise ModelError(
            f"{artifact}: trained with scikit-learn {trained or 'unknown'}, this environment "
            f"has {current}; retrain the model"
            + (f" or install scikit-learn=={trained}" if trained else "")
        )
