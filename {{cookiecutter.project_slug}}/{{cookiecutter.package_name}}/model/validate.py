"""Validate the model on the held-out test set (DVC stage ``validate``).

Computes the metrics (classification: accuracy, precision, recall, F1 macro,
ROC-AUC where defined; regression: RMSE, MAE, R2), writes reports/metrics.json,
the per-row predictions for ``dvc plots`` and a confusion-matrix or residual
PNG, then applies the quality gates from params.yaml: a failed gate exits 1.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn import metrics as skm

from .. import cli
from ..config import Gate, Params, load_params
from ..data_processing.cleaning import CLEAN_FILE
from ..errors import ConfigError, QualityGateError
from ..files import read_json, read_table, write_json, write_table
from .artifact import LoadedModel, load_model
from .train import MODEL_DIR, split_train_test

REPORTS_DIR = Path("reports")
METRICS_FILE = REPORTS_DIR / "metrics.json"

log = logging.getLogger(__name__)


def evaluate(model: LoadedModel, frame: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Held-out metrics, and a frame of actual against predicted values."""
    target = model.metadata["target"]
    x = model.features(frame)
    actual = frame[target]
    predicted = model.pipeline.predict(x)
    table = pd.DataFrame({"actual": actual.to_numpy(), "predicted": predicted})
    if model.is_classifier:
        result: dict[str, Any] = {
            "accuracy": skm.accuracy_score(actual, predicted),
            "precision_macro": skm.precision_score(
                actual, predicted, average="macro", zero_division=0
            ),
            "recall_macro": skm.recall_score(actual, predicted, average="macro", zero_division=0),
            "f1_macro": skm.f1_score(actual, predicted, average="macro", zero_division=0),
            "roc_auc": _roc_auc(model, x, actual),
        }
    else:
        result = {
            "rmse": skm.root_mean_squared_error(actual, predicted),
            "mae": skm.mean_absolute_error(actual, predicted),
            "r2": skm.r2_score(actual, predicted),
        }
    result = {k: None if v is None else round(float(v), 6) for k, v in result.items()}
    result["rows"] = len(frame)
    return result, table


def _roc_auc(model: LoadedModel, x: pd.DataFrame, actual: pd.Series) -> float | None:
    """ROC-AUC when it is defined: probabilities exist and the test set has every class."""
    classes = model.pipeline.classes_
    if not hasattr(model.pipeline, "predict_proba") or set(actual.unique()) != set(classes):
        return None
    proba = model.pipeline.predict_proba(x)
    if len(classes) == 2:
        return float(skm.roc_auc_score(actual == classes[1], proba[:, 1]))
    return float(
        skm.roc_auc_score(actual, proba, multi_class="ovr", average="macro", labels=classes)
    )


def check_gates(metrics: dict[str, Any], gates: dict[str, Gate]) -> list[str]:
    """Every broken gate as ``name=value < min``; an empty list means the model passes."""
    failures = []
    for name, gate in gates.items():
        if name not in metrics:
            raise ConfigError(
                f"params: validate.gates.{name}: no such metric (have: {', '.join(metrics)})"
            )
        value = metrics[name]
        if value is None:
            failures.append(f"{name} is not defined for this test set")
        elif gate.min is not None and value < gate.min:
            failures.append(f"{name}={value:.4f} < min {gate.min}")
        elif gate.max is not None and value > gate.max:
            failures.append(f"{name}={value:.4f} > max {gate.max}")
    return failures


def enforce_gates(metrics: dict[str, Any], gates: dict[str, Gate]) -> None:
    failures = check_gates(metrics, gates)
    if failures:
        raise QualityGateError("quality gate failed: " + "; ".join(failures))
    if gates:
        log.info("quality gates passed: %s", ", ".join(gates))


def plot(model: LoadedModel, table: pd.DataFrame, folder: Path) -> Path:
    """Confusion matrix (classification) or residuals against predictions (regression)."""
    from matplotlib.figure import Figure  # plotting is only needed by this stage

    from ..files import atomic_path

    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    if model.is_classifier:
        labels = model.classes
        skm.ConfusionMatrixDisplay.from_predictions(
            table["actual"], table["predicted"], labels=labels, ax=ax, colorbar=False
        )
        ax.set_title("Confusion matrix (test set)")
        path = folder / "confusion_matrix.png"
    else:
        residuals = table["actual"] - table["predicted"]
        ax.scatter(table["predicted"], residuals, s=12, alpha=0.7)
        ax.axhline(0, color="grey", linewidth=1)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual - predicted")
        ax.set_title("Residuals (test set)")
        path = folder / "residuals.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def validate(
    params: Params,
    model_dir: Path = MODEL_DIR,
    data_file: Path = CLEAN_FILE,
    reports_dir: Path = REPORTS_DIR,
    figures: bool = True,
) -> dict[str, Any]:
    """Evaluate, write metrics, predictions and the figure under ``reports_dir``, apply gates."""
    model = load_model(model_dir)
    _, test_part = split_train_test(read_table(data_file), params, data_file)
    result, table = evaluate(model, test_part)
    result["model_version"] = model.version
    write_json(reports_dir / "metrics.json", result)
    write_table(table, reports_dir / "predictions.csv")
    if figures:
        plot(model, table, reports_dir / "figures")
    log.info(
        "metrics: %s", ", ".join(f"{k}={v}" for k, v in result.items() if isinstance(v, float))
    )
    enforce_gates(result, params.validate.gates)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    parser.add_argument(
        "--data",
        type=Path,
        default=CLEAN_FILE,
        help="clean data CSV; its held-out split is evaluated (default: %(default)s)",
    )
    parser.add_argument(
        "--gate-only",
        type=Path,
        metavar="METRICS_JSON",
        help="apply the gates to an existing metrics file (e.g. from a SageMaker job)",
    )
    cli.run(_run, parser.parse_args(argv))


def _run(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if args.gate_only:
        if not args.gate_only.is_file():
            raise ConfigError(f"{args.gate_only}: metrics file not found")
        enforce_gates(read_json(args.gate_only), params.validate.gates)
    else:
        validate(params, args.model_dir, args.data)


if __name__ == "__main__":
    main()
