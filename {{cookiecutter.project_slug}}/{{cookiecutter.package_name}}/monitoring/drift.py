"""Data drift: recent data against the data the model was trained on (``make drift``).

Reference: the training split of data/processed/clean.csv, the rows the model
learnt from (the file must be the one on the model card), or a table given with
``--reference``. Current: prediction-log files or folders (``PREDICTION_LOG_DIR``
by default) or CSV/Parquet tables with the feature columns, given with ``--current``.

Per feature: the population stability index (PSI) over the reference's quantile
bins (numeric) or categories, each with a bin for missing values; and the
two-sample Kolmogorov-Smirnov test (numeric) or a chi-squared test (categorical).
A feature drifts when its PSI exceeds ``monitoring.psi_max`` and its p-value is
below ``monitoring.p_value_min``. Writes reports/drift/summary.json and
report.html (plots inline). More drifted features than
``monitoring.max_drifted_features`` fail the gate: exit status 1, naming them.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import logging
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .. import cli
from ..config import MonitoringParams, Settings, load_params
from ..data_processing.cleaning import CLEAN_FILE
from ..data_processing.validation import FeatureSpec
from ..errors import ConfigError, DataError, QualityGateError
from ..files import atomic_open, read_table, require_columns, sha256_file, write_json
from ..model.artifact import LoadedModel, load_model
from ..model.train import MODEL_DIR, split_positions
from .prediction_log import FILE_SUFFIX, read_prediction_logs

REPORT_DIR = Path("reports/drift")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
EPSILON = 1e-4  # share given to an empty bin, so the PSI stays finite
MISSING = "(missing)"
UNSEEN = "(not in reference)"
STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 60em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
tr.drift td { background: #fde2e2; }
.passed { color: #17692e; }
.failed { color: #b00020; }
"""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison; ``p_value`` is None when the test is undefined."""

    name: str
    kind: str  # numeric | categorical
    psi: float
    test: str  # ks | chi2 | chi2 (missing)
    statistic: float | None
    p_value: float | None
    drifted: bool
    missing_reference: float  # share of rows without a value
    missing_current: float


@dataclass(frozen=True)
class DriftResult:
    features: list[FeatureDrift]
    reference_rows: int
    current_rows: int
    settings: MonitoringParams

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [feature for feature in self.features if feature.drifted]

    @property
    def passed(self) -> bool:
        return len(self.drifted) <= self.settings.max_drifted_features


# --------------------------------------------------------------------------- statistics


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    expected = np.maximum(reference / max(reference.sum(), 1), EPSILON)
    actual = np.maximum(current / max(current.sum(), 1), EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def numeric_drift(
    name: str, reference: pd.Series, current: pd.Series, settings: MonitoringParams
) -> FeatureDrift:
    ref, cur = reference.dropna().to_numpy(), current.dropna().to_numpy()
    quantiles = np.linspace(0, 1, settings.bins + 1)[1:-1]
    edges = np.unique(np.quantile(ref, quantiles)) if len(ref) else np.array([])

    def counts(values: np.ndarray, missing: int) -> np.ndarray:
        bins = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.append(bins, missing)

    gaps = int(reference.isna().sum()), int(current.isna().sum())
    index = psi(counts(ref, gaps[0]), counts(cur, gaps[1]))
    test, statistic, p_value = "ks", None, None
    if len(ref) and len(cur):
        ks = stats.ks_2samp(ref, cur)
        statistic, p_value = float(ks.statistic), float(ks.pvalue)
    # Kolmogorov-Smirnov sees only the values present: a feature that goes missing is
    # judged by its share of missing values, present against missing, instead.
    table = np.array([[len(ref), gaps[0]], [len(cur), gaps[1]]])
    if any(gaps) and (table.sum(axis=0) > 0).all():
        shares = stats.chi2_contingency(table)
        if p_value is None or shares.pvalue < p_value:
            test, statistic = "chi2 (missing)", float(shares.statistic)
            p_value = float(shares.pvalue)
    return _decide(name, "numeric", index, test, statistic, p_value, reference, current, settings)


def categorical_drift(
    name: str, reference: pd.Series, current: pd.Series, settings: MonitoringParams
) -> FeatureDrift:
    known = set(reference.dropna())
    ref = reference.fillna(MISSING)
    cur = current.where(current.isin(known) | current.isna(), UNSEEN).fillna(MISSING)
    categories = sorted(set(ref) | set(cur))
    ref_counts = ref.value_counts().reindex(categories, fill_value=0).to_numpy()
    cur_counts = cur.value_counts().reindex(categories, fill_value=0).to_numpy()
    index = psi(ref_counts, cur_counts)
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    statistic, p_value = 0.0, 1.0  # a single category cannot differ in its shares
    if table.shape[1] > 1:
        test = stats.chi2_contingency(table)
        statistic, p_value = float(test.statistic), float(test.pvalue)
    return _decide(
        name, "categorical", index, "chi2", statistic, p_value, reference, current, settings
    )


def _decide(
    name: str,
    kind: str,
    index: float,
    test: str,
    statistic: float | None,
    p_value: float | None,
    reference: pd.Series,
    current: pd.Series,
    settings: MonitoringParams,
) -> FeatureDrift:
    significant = p_value is None or p_value < settings.p_value_min
    return FeatureDrift(
        name=name,
        kind=kind,
        psi=round(index, 6),
        test=test,
        statistic=None if statistic is None else round(statistic, 6),
        p_value=None if p_value is None else float(f"{p_value:.6g}"),
        drifted=bool(index > settings.psi_max and significant),
        missing_reference=round(float(reference.isna().mean()), 6),
        missing_current=round(float(current.isna().mean()), 6),
    )


def compare(
    reference: pd.DataFrame, current: pd.DataFrame, spec: FeatureSpec, settings: MonitoringParams
) -> DriftResult:
    """Every feature of ``spec``; both frames hold coerced features (``spec.coerce``)."""
    if len(current) < settings.min_rows:
        raise DataError(
            f"current data has {len(current)} rows; the drift check needs at least "
            f"{settings.min_rows} (monitoring.min_rows)"
        )
    features = [
        numeric_drift(name, reference[name], current[name], settings)
        if name in spec.numeric
        else categorical_drift(name, reference[name], current[name], settings)
        for name in spec.columns
    ]
    return DriftResult(features, len(reference), len(current), settings)


# --------------------------------------------------------------------------- inputs


def reference_data(
    model: LoadedModel, params_file: Path, reference: Path | None
) -> tuple[pd.DataFrame, str]:
    """The reference rows (features, coerced) and a description of where they came from."""
    if reference is not None:
        return read_features(reference, model.spec), str(reference)
    expected = model.metadata.get("data", {}).get("sha256")
    if not CLEAN_FILE.is_file():
        raise DataError(f"{CLEAN_FILE}: file not found; run make pipeline or pass --reference")
    if expected and sha256_file(CLEAN_FILE) != expected:
        raise DataError(
            f"{CLEAN_FILE}: not the data model {model.version} was trained on (sha256 "
            "differs from the model card); run make pipeline, or pass --reference FILE"
        )
    params = load_params(params_file)
    # The split the model was trained on: its card's, whatever params.yaml says now.
    trained = (model.metadata.get("params") or {}).get("data") or {}
    split = {key: trained[key] for key in ("test_size", "seed") if key in trained}
    params = replace(params, data=replace(params.data, **split))
    frame = read_table(CLEAN_FILE, text=model.spec.categorical)
    train_part = frame.take(split_positions(frame, params, CLEAN_FILE)[0])
    return model.spec.coerce(train_part), f"{CLEAN_FILE} (training split)"


def read_features(path: Path, spec: FeatureSpec) -> pd.DataFrame:
    """The feature columns of a CSV or Parquet file, in the model's types."""
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(f"{path}: expected a {', '.join(TABLE_SUFFIXES)} file")
    frame = read_table(
        path, text=spec.categorical, other_delimiter="make drift reads comma-separated files"
    )
    require_columns(path, [str(c) for c in frame.columns], spec.columns, "feature")
    try:
        return spec.coerce(frame)
    except (ValueError, TypeError) as error:
        raise DataError(f"{path}: features do not fit the model's types: {error}") from None


def current_data(paths: list[Path], spec: FeatureSpec) -> pd.DataFrame:
    """Recent rows from tables and prediction logs (files or folders of them)."""
    tables = [p for p in paths if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES]
    logs = [p for p in paths if p not in tables]
    for path in logs:
        if path.is_file() and path.suffix.lower() != FILE_SUFFIX:
            raise DataError(
                f"{path}: expected a prediction log ({FILE_SUFFIX}), a folder of them, "
                f"or a table ({', '.join(TABLE_SUFFIXES)})"
            )
    parts = [read_features(path, spec) for path in tables]
    if logs:
        parts.append(spec.coerce(read_prediction_logs(logs, spec)))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- reports


def summary(result: DriftResult, model: LoadedModel, sources: dict[str, Any]) -> dict[str, Any]:
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": model.version,
        "passed": result.passed,
        "drifted": [feature.name for feature in result.drifted],
        "thresholds": asdict(result.settings),
        "reference": {"source": sources["reference"], "rows": result.reference_rows},
        "current": {"sources": sources["current"], "rows": result.current_rows},
        "features": {feature.name: asdict(feature) for feature in result.features},
    }


def plot_feature(feature: FeatureDrift, reference: pd.Series, current: pd.Series) -> str:
    """The two distributions of one feature as a base64 PNG."""
    from matplotlib.figure import Figure  # the pipeline extra; the report says when absent

    fig = Figure(figsize=(6, 3), layout="constrained")
    ax = fig.subplots()
    if feature.kind == "numeric":
        values = np.concatenate([reference.dropna(), current.dropna()])
        edges = np.histogram_bin_edges(values, bins=30).tolist() if len(values) else 10
        for series, label in ((reference, "reference"), (current, "current")):
            ax.hist(series.dropna(), bins=edges, density=True, histtype="step", label=label)
    else:
        ref = reference.fillna(MISSING).value_counts(normalize=True)
        cur = current.fillna(MISSING).value_counts(normalize=True)
        shares = pd.DataFrame({"reference": ref, "current": cur}).fillna(0).head(20)
        positions = np.arange(len(shares))
        ax.bar(positions - 0.2, shares["reference"], width=0.4, label="reference")
        ax.bar(positions + 0.2, shares["current"], width=0.4, label="current")
        ax.set_xticks(positions, [str(label) for label in shares.index], rotation=30, ha="right")
        ax.set_ylabel("share of rows")
    ax.set_title(f"{feature.name}: PSI {feature.psi:.3f}")
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(
    report: dict[str, Any],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    result: DriftResult,
    figures: bool,
) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            value = f"{value:.4g}"
        return f"<td>{html.escape('-' if value is None else str(value))}</td>"

    rows = "\n".join(
        f'<tr class="{"drift" if f.drifted else ""}">'
        + "".join(
            cell(v)
            for v in (
                f.name,
                f.kind,
                f.psi,
                f.test,
                f.statistic,
                f.p_value,
                f.missing_reference,
                f.missing_current,
                "yes" if f.drifted else "no",
            )
        )
        + "</tr>"
        for f in result.features
    )
    plots = ""
    if figures:
        try:
            images = []
            for f in result.features:
                png = plot_feature(f, reference[f.name], current[f.name])
                name = html.escape(f.name)
                images.append(
                    f'<h2>{name}</h2><img alt="{name}" src="data:image/png;base64,{png}">'
                )
            plots = "\n".join(images)
        except ImportError:
            log.warning("matplotlib is not installed: the report has no plots")
            plots = "<p>No plots: install the pipeline extra (matplotlib).</p>"
    settings = result.settings
    verdict = (
        f"{len(result.drifted)} drifted feature(s), at most {settings.max_drifted_features} "
        f"allowed: {'passed' if result.passed else 'FAILED'}"
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Drift report: model {html.escape(report["model_version"])}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Drift report: model {html.escape(report["model_version"])}</h1>
<p class="{"passed" if result.passed else "failed"}"><strong>{html.escape(verdict)}</strong></p>
<p>Reference: {html.escape(report["reference"]["source"])}, {result.reference_rows} rows.
Current: {html.escape(", ".join(report["current"]["sources"]))}, {result.current_rows} rows.
Created {html.escape(report["created_at"])}.</p>
<p>A feature drifts when its PSI exceeds {settings.psi_max} and its p-value is below
{settings.p_value_min} (Kolmogorov-Smirnov for numbers, chi-squared for categories).</p>
<table>
<tr><th>feature</th><th>kind</th><th>PSI</th><th>test</th><th>statistic</th><th>p-value</th>
<th>missing (reference)</th><th>missing (current)</th><th>drifted</th></tr>
{rows}
</table>
{plots}
</body>
</html>
"""


def describe(feature: FeatureDrift) -> str:
    p_value = "-" if feature.p_value is None else f"{feature.p_value:.2g}"
    return f"{feature.name} (PSI {feature.psi:.2f}, {feature.test} p={p_value})"


# --------------------------------------------------------------------------- command


def check_drift(
    current: list[Path],
    model_dir: Path = MODEL_DIR,
    params_file: Path = Path("params.yaml"),
    reference: Path | None = None,
    out_dir: Path = REPORT_DIR,
    figures: bool = True,
) -> dict[str, Any]:
    """Compare, write summary.json and report.html to ``out_dir``, then apply the gate.

    The previous report goes first: a check refused for its input leaves none, rather
    than an older one that reads as this check's result.
    """
    started = time.perf_counter()
    for stale in ("summary.json", "report.html"):
        (out_dir / stale).unlink(missing_ok=True)
    settings = load_params(params_file).monitoring
    model = load_model(model_dir)
    ref_frame, ref_source = reference_data(model, params_file, reference)
    cur_frame = current_data(current, model.spec)
    result = compare(ref_frame, cur_frame, model.spec, settings)
    report = summary(result, model, {"reference": ref_source, "current": [str(p) for p in current]})
    write_json(out_dir / "summary.json", report)
    with atomic_open(out_dir / "report.html") as f:
        f.write(render_html(report, ref_frame, cur_frame, result, figures))
    log.info(
        "drift: %d of %d features drifted (%d reference rows, %d current) in %.2f s -> %s",
        len(result.drifted),
        len(result.features),
        result.reference_rows,
        result.current_rows,
        time.perf_counter() - started,
        out_dir,
    )
    if not result.passed:
        raise QualityGateError(
            f"drift gate failed: {len(result.drifted)} drifted feature(s), at most "
            f"{settings.max_drifted_features} allowed: "
            + "; ".join(describe(feature) for feature in result.drifted)
            + f" (see {out_dir / 'report.html'})"
        )
    return report


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--current",
        type=Path,
        nargs="+",
        help="recent data: prediction logs (files or folders), CSV or Parquet "
        "(default: PREDICTION_LOG_DIR)",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        help=f"reference table (default: the training split of {CLEAN_FILE})",
    )
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    parser.add_argument("--out", type=Path, default=REPORT_DIR, help="default: %(default)s")
    parser.add_argument("--no-figures", action="store_true", help="a report without plots")
    cli.run(_run, parser.parse_args(argv))


def _run(args: argparse.Namespace) -> None:
    current = args.current
    if not current:
        folder = Settings.from_env().prediction_log_dir
        if folder is None:
            raise ConfigError(
                "no current data: pass --current FILE_OR_FOLDER (CSV, Parquet or prediction "
                "logs) or set PREDICTION_LOG_DIR"
            )
        current = [folder]
    check_drift(current, args.model_dir, args.params, args.reference, args.out, not args.no_figures)


if __name__ == "__main__":
    main()
