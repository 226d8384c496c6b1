"""The generated project runs: its pipeline, its own tests and its linters.

All bakes share the environment running this suite (``VENV=`` points the
generated Makefile at it), so nothing is installed per project.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .conftest import bake, run

PROBLEM_TYPES = ["classification", "regression"]


@pytest.fixture(scope="module", params=PROBLEM_TYPES)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project baked with the defaults (and each problem type), its pipeline already run."""
    project = bake(tmp_path_factory.mktemp(request.param), problem_type=request.param)
    run("make", "pipeline", f"VENV={Path(sys.prefix)}", cwd=project)
    return project


def make(project: Path, target: str) -> str:
    return run("make", target, f"VENV={Path(sys.prefix)}", cwd=project).stdout


def test_pipeline_writes_model_metrics_and_plots(project: Path) -> None:
    metrics = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    metadata = json.loads((project / "models" / "metadata.json").read_text(encoding="utf-8"))
    assert metrics["model_version"] == metadata["model_version"]
    assert (project / "models" / "model.joblib").is_file()
    assert (project / "dvc.lock").is_file()
    figure = "confusion_matrix.png" if metadata["task"] == "classification" else "residuals.png"
    assert (project / "reports" / "figures" / figure).read_bytes().startswith(b"\x89PNG")


def test_pipeline_reruns_nothing_when_nothing_changed(project: Path) -> None:
    output = make(project, "pipeline")
    assert "Running stage" not in output
    assert "didn't change, skipping" in output or "is cached" in output or "up to date" in output


def test_generated_tests_pass(project: Path) -> None:
    output = make(project, "test")
    assert " passed" in output
    assert "failed" not in output


def test_generated_lint_passes(project: Path) -> None:
    make(project, "lint")


def test_explore_writes_the_eda_report(project: Path) -> None:
    make(project, "explore")
    summary = json.loads((project / "reports" / "eda" / "summary.json").read_text(encoding="utf-8"))
    assert summary["rows"] > 300
    assert {"missing", "dtypes", "correlations", "target", "numeric_summary"} <= set(summary)
    figures = sorted(p.name for p in (project / "reports" / "figures" / "eda").glob("*.png"))
    assert "eda_target.png" in figures
    assert "eda_missing.png" in figures
