"""Exploratory data analysis of the ingested data (``make explore``).

Writes a Markdown report and a JSON summary to reports/eda/ (shape, dtypes,
missing values, target distribution, numeric summaries, correlations) and PNG
plots to reports/figures/. Plots use matplotlib's object API, no global state.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import cli
from ..config import Params, load_params
from ..files import atomic_open, atomic_path, read_table, write_json
from .ingest import RAW_FILE
from .validation import infer_features

REPORT_DIR = Path("reports/eda")
FIGURES_DIR = Path("reports/figures/eda")

log = logging.getLogger(__name__)


def summarize(frame: pd.DataFrame, params: Params) -> dict[str, Any]:
    target = params.data.target
    spec = infer_features(frame, params, RAW_FILE)
    numeric = frame[spec.numeric].apply(pd.to_numeric, errors="coerce")
    missing = frame.isna().sum()
    summary: dict[str, Any] = {
        "rows": len(frame),
        "columns": frame.shape[1],
        "duplicate_rows": int(frame.duplicated().sum()),
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
        "features": {"numeric": spec.numeric, "categorical": spec.categorical},
        "missing": {
            str(c): {"count": int(n), "share": round(n / len(frame), 4)} for c, n in missing.items()
        },
        "numeric_summary": _records(numeric.describe().T) if spec.numeric else {},
        "categorical_summary": {
            c: {
                "distinct": int(frame[c].nunique()),
                "top": {str(k): int(v) for k, v in frame[c].value_counts().head(10).items()},
            }
            for c in spec.categorical
        },
        "correlations": _records(numeric.corr().round(4)) if len(spec.numeric) > 1 else {},
    }
    if params.is_classifier:
        counts = frame[target].value_counts(dropna=False)
        summary["target"] = {
            "kind": "classes",
            "counts": {str(k): int(v) for k, v in counts.items()},
        }
    else:
        described = pd.to_numeric(frame[target], errors="coerce").describe()
        summary["target"] = {
            "kind": "numeric",
            "summary": {k: _num(v) for k, v in described.items()},
        }
    return summary


def _num(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else round(number, 6)


def _records(table: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    return {str(i): {str(k): _num(v) for k, v in row.items()} for i, row in table.iterrows()}


def plot(frame: pd.DataFrame, params: Params, summary: dict[str, Any], folder: Path) -> list[Path]:
    """Save the EDA figures and return their paths."""
    target = params.data.target
    numeric = summary["features"]["numeric"]
    written = []

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    if params.is_classifier:
        frame[target].value_counts(dropna=False).plot.bar(ax=ax, color="#4c72b0")
        ax.set_ylabel("rows")
    else:
        pd.to_numeric(frame[target], errors="coerce").plot.hist(ax=ax, bins=30, color="#4c72b0")
    ax.set_title(f"Target: {target}")
    written.append(_save(fig, folder / "eda_target.png"))

    fig = Figure(figsize=(6, max(2.5, 0.35 * frame.shape[1])), layout="constrained")
    ax = fig.subplots()
    (frame.isna().mean() * 100).sort_values().plot.barh(ax=ax, color="#dd8452")
    ax.set_xlabel("% missing")
    ax.set_title("Missing values per column")
    written.append(_save(fig, folder / "eda_missing.png"))

    if numeric:
        cols = min(3, len(numeric))
        rows = math.ceil(len(numeric) / cols)
        fig = Figure(figsize=(4 * cols, 3 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, column in zip(axes, numeric, strict=False):
            pd.to_numeric(frame[column], errors="coerce").plot.hist(ax=ax, bins=30, color="#55a868")
            ax.set_title(column)
        for ax in axes[len(numeric) :]:
            ax.set_visible(False)
        written.append(_save(fig, folder / "eda_numeric.png"))

    if len(numeric) > 1:
        corr = frame[numeric].apply(pd.to_numeric, errors="coerce").corr()
        fig = Figure(figsize=(1.2 * len(numeric) + 2, 1.2 * len(numeric) + 1), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(corr, vmin=-1, vmax=1, cmap="coolwarm")
        ax.set_xticks(range(len(numeric)), numeric, rotation=45, ha="right")
        ax.set_yticks(range(len(numeric)), numeric)
        matrix = corr.to_numpy()
        for i, j in np.ndindex(matrix.shape):
            if not np.isnan(matrix[i, j]):  # a constant column has no correlation
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8)
        fig.colorbar(image, ax=ax)
        ax.set_title("Correlations")
        written.append(_save(fig, folder / "eda_correlations.png"))
    return written


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def markdown(summary: dict[str, Any], figures: list[Path], report_dir: Path) -> str:
    lines = [
        "# Exploratory data analysis",
        "",
        f"{summary['rows']} rows, {summary['columns']} columns, "
        f"{summary['duplicate_rows']} duplicate rows.",
        "",
        "## Columns",
        "",
        "| column | dtype | missing | share |",
        "| --- | --- | ---: | ---: |",
    ]
    for column, dtype in summary["dtypes"].items():
        miss = summary["missing"][column]
        lines.append(f"| {column} | {dtype} | {miss['count']} | {miss['share']:.1%} |")
    lines += ["", "## Target", ""]
    target = summary["target"]
    values = target["counts"] if target["kind"] == "classes" else target["summary"]
    lines += [f"- {key}: {value}" for key, value in values.items()]
    if summary["numeric_summary"]:
        lines += [
            "",
            "## Numeric features",
            "",
            "| feature | mean | std | min | max |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for column, stats in summary["numeric_summary"].items():
            lines.append(
                f"| {column} | {stats['mean']} | {stats['std']} | {stats['min']} | {stats['max']} |"
            )
    lines += ["", "## Figures", ""]
    lines += [
        f"![{path.stem}]({Path(os.path.relpath(path, report_dir)).as_posix()})" for path in figures
    ]
    return "\n".join(lines) + "\n"


def explore(
    params: Params,
    source: Path = RAW_FILE,
    report_dir: Path = REPORT_DIR,
    figures_dir: Path = FIGURES_DIR,
) -> dict[str, Any]:
    frame = read_table(source, text=params.features.text_columns)
    summary = summarize(frame, params)
    figures = plot(frame, params, summary, figures_dir)
    write_json(report_dir / "summary.json", summary)
    with atomic_open(report_dir / "report.md") as f:
        f.write(markdown(summary, figures, report_dir))
    log.info(
        "EDA report -> %s, %d figures -> %s", report_dir / "report.md", len(figures), figures_dir
    )
    return summary


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.run(_run, args)


def _run(args: argparse.Namespace) -> None:
    explore(load_params(args.params))


if __name__ == "__main__":
    main()
