"""Validate the model on the held-out test set (DVC stage ``validate``).

Computes the metrics (classification: accuracy, precision, recall, F1 macro,
ROC-AUC where defined; regression: RMSE, MAE, R2), the same metrics per segment
(each value of the ``validate.segments`` columns) and the largest gap between
segments, writes reports/metrics.json, the per-row predictions for ``dvc plots``
and a confusion-matrix or residual PNG, then applies the quality gates from
params.yaml: a failed gate exits 1.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn import metrics as skm

from .. import cli
from ..config import METRIC_NAMES, SEGMENT_GAP, Gate, Params, SegmentParams, load_params
from ..data_processing.cleaning import CLEAN_FILE
from ..data_processing.validation import as_category_strings, columns_present
from ..errors import ConfigError, QualityGateError
from ..files import read_json, read_table, write_json, write_table
from .artifact import METRICS_FILE, LoadedModel, load_model, publish
from .train import MODEL_DIR, plain_scalar, split_positions

REPORTS_DIR = Path("reports")
DEFAULT_SEGMENT_METRIC = {"classification": "accuracy", "regression": "rmse"}
FEW_HELD_OUT_ROWS = 30  # fewer make each row move a metric by more than 3 points
MISSING_SEGMENT = "(missing)"

log = logging.getLogger(__name__)


def evaluate(model: LoadedModel, frame: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Held-out metrics, and a frame of actual against predicted values."""
    target = model.metadata["target"]
    x = model.features(frame)
    actual = frame[target]
    predicted = model.pipeline.predict(x)
    table = pd.DataFrame({"actual": actual.to_numpy(), "predicted": predicted})
    result = scores(model, x, actual, predicted)
    result["rows"] = len(frame)
    return result, table


def scores(
    model: LoadedModel, x: pd.DataFrame, actual: pd.Series, predicted: Any
) -> dict[str, float | None]:
    """The metrics of ``METRIC_NAMES`` for one set of rows, rounded to 6 digits."""
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
    return {k: None if v is None else round(float(v), 6) for k, v in result.items()}


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


def warn_if_weak(model: LoadedModel, table: pd.DataFrame, result: dict[str, Any]) -> None:
    """Say when the metrics mean less than they seem: too few held-out rows to trust,
    or a model no better than a constant answer (rare classes make such a model look
    accurate, and gates written for accuracy let it through)."""
    rows = len(table)
    if rows < FEW_HELD_OUT_ROWS:
        log.warning(
            "held-out metrics rest on %d rows, each worth %.0f%% of accuracy-like scores: "
            "more data or a larger data.test_size",
            rows,
            100 / rows,
        )
    actual = table["actual"]
    if model.is_classifier:
        majority = actual.mode().iloc[0]
        constant = pd.Series([majority] * rows, index=actual.index)
        accuracy = skm.accuracy_score(actual, constant)
        f1 = skm.f1_score(actual, constant, average="macro", zero_division=0)
        if result["accuracy"] <= accuracy and result["f1_macro"] <= f1:
            log.warning(
                "the model does no better than always answering %r (accuracy %.4f, f1_macro "
                "%.4f on the held-out rows): a class too rare to learn?",
                plain_scalar(majority),
                accuracy,
                f1,
            )
    elif result["r2"] is not None and result["r2"] <= 0:
        log.warning(
            "r2=%.4f: the model does no better than predicting the mean of the held-out rows",
            result["r2"],
        )


def segment_metrics(
    model: LoadedModel,
    frame: pd.DataFrame,
    segments: SegmentParams,
    source: object = "the held-out data",
) -> dict[str, Any]:
    """Metrics per segment of ``frame`` and ``segment_gap``, the largest gap between two.

    Each value of each column in ``segments.columns`` is a segment (missing values
    form one too). Segments with fewer than ``segments.min_rows`` rows are reported
    but not compared. Columns ``frame`` lacks are skipped (``columns_present``);
    returns nothing when none is left.
    """
    if not segments.columns:
        return {}
    task = model.metadata["task"]
    metric = segments.metric or DEFAULT_SEGMENT_METRIC[task]
    if metric not in METRIC_NAMES[task]:
        raise ConfigError(
            f"params: validate.segments.metric={metric!r}: not a {task} metric "
            f"(have: {', '.join(METRIC_NAMES[task])})"
        )
    here = [str(c) for c in frame.columns]
    present = columns_present("validate.segments.columns", segments.columns, here, source)
    if not present:
        return {}
    x = model.features(frame)
    actual = frame[model.metadata["target"]]
    predicted = pd.Series(model.pipeline.predict(x), index=frame.index)
    columns: dict[str, dict[str, dict[str, Any]]] = {}
    largest: dict[str, Any] | None = None
    for column in present:
        keys = as_category_strings(frame[column]).fillna(MISSING_SEGMENT)
        if keys.nunique() > 50:
            log.warning("segments of %r: %d values, one segment each", column, keys.nunique())
        table: dict[str, dict[str, Any]] = {}
        for value in sorted(keys.unique()):
            rows = keys == value
            table[value] = {"rows": int(rows.sum())}
            if rows.sum() >= 2:  # a metric of one row says nothing (and R2 is undefined)
                table[value] |= scores(model, x[rows], actual[rows], predicted[rows])
        columns[column] = table
        compared = {
            value: entry[metric]
            for value, entry in table.items()
            if entry["rows"] >= segments.min_rows and entry.get(metric) is not None
        }
        if len(compared) < 2:
            log.warning("segments of %r: fewer than 2 segments to compare", column)
            continue
        high = max(compared, key=lambda value: compared[value])
        low = min(compared, key=lambda value: compared[value])
        gap = round(compared[high] - compared[low], 6)
        if largest is None or gap > largest["gap"]:
            largest = {
                "column": column,
                "gap": gap,
                "highest": {"segment": high, metric: compared[high]},
                "lowest": {"segment": low, metric: compared[low]},
            }
    if largest:
        log.info(
            "largest segment gap: %s %.4f on %r (%s %s, %s %s)",
            metric,
            largest["gap"],
            largest["column"],
            largest["highest"]["segment"],
            largest["highest"][metric],
            largest["lowest"]["segment"],
            largest["lowest"][metric],
        )
    return {
        SEGMENT_GAP: largest["gap"] if largest else None,
        "segments": {
            "metric": metric,
            "min_rows": segments.min_rows,
            "largest_gap": largest,
            "columns": columns,
        },
    }


def check_gates(metrics: dict[str, Any], gates: dict[str, Gate]) -> list[str]:
    """Every broken gate as ``name=value < min``; an empty list means the model passes."""
    failures = []
    for name, gate in applicable(metrics, gates).items():
        if name not in metrics:
            raise ConfigError(
                f"params: validate.gates.{name}: no such metric (have: {', '.join(metrics)})"
            )
        value = metrics[name]
        if value is None:
            failures.append(f"{name} is not defined for this test set")
        elif gate.min is not None and value < gate.min:
            failures.append(f"{name}={value:.4f} < min {gate.min}{_explain(name, metrics)}")
        elif gate.max is not None and value > gate.max:
            failures.append(f"{name}={value:.4f} > max {gate.max}{_explain(name, metrics)}")
    return failures


def applicable(metrics: dict[str, Any], gates: dict[str, Gate]) -> dict[str, Gate]:
    """The gates that can judge these metrics. The segment gap needs two segments of
    ``min_rows`` in a column the data has: without them it is not applied, with a
    warning, as the segment rules themselves step aside for data they do not fit."""
    if SEGMENT_GAP in gates and metrics.get(SEGMENT_GAP) is None:
        log.warning("params: validate.gates.%s: no segments to compare; not applied", SEGMENT_GAP)
        return {name: gate for name, gate in gates.items() if name != SEGMENT_GAP}
    return gates


def _explain(name: str, metrics: dict[str, Any]) -> str:
    """Which segments make up the segment gap, for the failure message."""
    largest = (metrics.get("segments") or {}).get("largest_gap")
    if name != SEGMENT_GAP or not largest:
        return ""
    metric = metrics["segments"]["metric"]
    high, low = largest["highest"], largest["lowest"]
    return (
        f" ({largest['column']}: {metric} {low[metric]} for {low['segment']!r}, "
        f"{high[metric]} for {high['segment']!r})"
    )


def enforce_gates(metrics: dict[str, Any], gates: dict[str, Gate]) -> None:
    applied = applicable(metrics, gates)
    failures = check_gates(metrics, applied)
    if failures:
        raise QualityGateError("quality gate failed: " + "; ".join(failures))
    if applied:
        log.info("quality gates passed: %s", ", ".join(applied))


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
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    track: bool = False,
{%- endif %}
) -> dict[str, Any]:
    """Evaluate, write metrics, predictions and the figure under ``reports_dir``, apply gates."""
    model = load_model(model_dir)
    frame = read_table(data_file, text=model.spec.categorical)
    test_part = frame.take(split_positions(frame, params, data_file)[1])  # held-out rows only
    result, table = evaluate(model, test_part)
    result.update(segment_metrics(model, test_part, params.validate.segments, data_file))
    result["model_version"] = model.version
    write_json(reports_dir / "metrics.json", result)
    write_table(table, reports_dir / "predictions.csv")
    if figures:
        plot(model, table, reports_dir / "figures")
    log.info(
        "metrics: %s", ", ".join(f"{k}={v}" for k, v in result.items() if isinstance(v, float))
    )
    warn_if_weak(model, table, result)
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    if track:  # the stage logs an MLflow run, passing or not, before the gates decide
        from .tracking import log_run

        log_run(params, model, model_dir, result, reports_dir=reports_dir, example=test_part)
{%- endif %}
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
        "--publish",
        type=Path,
        metavar="MODEL_DIR",
        help="copy the model there once it has passed every gate (make pipeline: models)",
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
        result = validate(params, args.model_dir, args.data{% if cookiecutter.experiment_tracking == "mlflow" %}, track=True{% endif %})
        # Beside the model too, once it passed: the card at /model and the images show them.
        if args.publish:
            publish(args.model_dir, args.publish, result)
            log.info("model %s passed every gate -> %s", result["model_version"], args.publish)
        else:
            write_json(args.model_dir / METRICS_FILE, result)


if __name__ == "__main__":
    main()
