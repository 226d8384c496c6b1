"""The generated project runs: its pipeline, its own tests and its linters.

All bakes share the environment running this suite (``VENV=`` points the
generated Makefile at it), so nothing is installed per project.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import run

PROBLEM_TYPES = ["classification", "regression"]


@pytest.fixture(scope="module", params=PROBLEM_TYPES)
def project(request: pytest.FixtureRequest, pipelined: Callable[..., Path]) -> Path:
    """A project baked with the defaults (and each problem type), its pipeline already run."""
    answers = {} if request.param == "classification" else {"problem_type": request.param}
    return pipelined(**answers)


def make(project: Path, target: str) -> str:
    return run("make", target, f"VENV={Path(sys.prefix)}", cwd=project).stdout


def make_failing(project: Path, target: str) -> subprocess.CompletedProcess[str]:
    """``make target`` expected to fail: its result, whatever the exit status."""
    return run("make", target, f"VENV={Path(sys.prefix)}", cwd=project, check=False)


def test_pipeline_writes_model_metrics_and_plots(project: Path) -> None:
    metrics = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    metadata = json.loads((project / "models" / "metadata.json").read_text(encoding="utf-8"))
    assert metrics["model_version"] == metadata["model_version"]
    beside_model = json.loads((project / "models" / "metrics.json").read_text(encoding="utf-8"))
    assert beside_model == metrics  # what the model card at /model shows
    assert (project / "models" / "model.joblib").is_file()
    assert (project / "dvc.lock").is_file()
    figure = "confusion_matrix.png" if metadata["task"] == "classification" else "residuals.png"
    assert (project / "reports" / "figures" / figure).read_bytes().startswith(b"\x89PNG")


def test_pipeline_reruns_nothing_when_nothing_changed(project: Path) -> None:
    output = make(project, "pipeline")
    assert "Running stage" not in output
    assert "didn't change, skipping" in output or "is cached" in output or "up to date" in output


def test_a_changed_param_reruns_only_the_stages_that_use_it(project: Path) -> None:
    params = project / "params.yaml"
    original = params.read_text(encoding="utf-8")
    gate = "accuracy: {min: 0.9}" if "accuracy: {min: 0.9}" in original else "r2: {min: 0.75}"
    params.write_text(original.replace(gate, gate.replace("0.", "0.0")), encoding="utf-8")
    try:
        output = make(project, "pipeline")
    finally:
        params.write_text(original, encoding="utf-8")
    ran = re.findall(r"Running stage '(\w+)'", output)
    assert ran == ["validate"]


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        (("accuracy: {min: 0.9}", "accuracy: {min: 2}"), "validate"),
        (("models: [", "models: [no_such_family, "), "train"),
    ],
    ids=["a failed gate", "a failed training"],
)
def test_make_pipeline_never_replaces_the_served_model_with_a_failed_one(
    project: Path, change: tuple[str, str], failed: str
) -> None:
    """DVC deletes a stage's outputs before it runs: the new model is a candidate
    (models/candidate) until validate passes it, and the served files persist."""
    served = ["model.joblib", "metadata.json", "metrics.json"]
    before = {name: (project / "models" / name).read_bytes() for name in served}
    params = project / "params.yaml"
    original = params.read_text(encoding="utf-8")
    old, new = change
    if "accuracy" in old and old not in original:  # the regression project's gate
        old, new = "r2: {min: 0.75}", "r2: {min: 2}"
    assert old in original
    params.write_text(original.replace(old, new, 1), encoding="utf-8")
    try:
        result = make_failing(project, "pipeline")
    finally:
        params.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    assert f"failed to reproduce '{failed}'" in result.stderr
    assert {name: (project / "models" / name).read_bytes() for name in served} == before
    make(project, "pipeline")  # back to the state the other tests expect


def test_dvc_exp_run_tries_a_param_change(pipelined: Callable[..., Path]) -> None:
    project = pipelined()
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
    run(*git, "add", "-A", cwd=project)
    run(*git, "commit", "--quiet", "-m", "baseline", cwd=project)
    run("dvc", "exp", "run", "-S", "train.cv_folds=3", "-S", "train.search=none", cwd=project)
    shown = json.loads(run("dvc", "exp", "show", "--json", cwd=project).stdout)
    baseline = next(row for row in shown if row["rev"] != "workspace")
    experiments = [rev for exp in baseline["experiments"] for rev in exp["revs"]]
    assert [
        rev["data"]["params"]["params.yaml"]["data"]["train"]["cv_folds"] for rev in experiments
    ] == [3]
    assert experiments[0]["data"]["metrics"]["reports/metrics.json"]["data"]["accuracy"] > 0.9


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


def test_projects_without_tracking_carry_no_mlflow(project: Path) -> None:
    """experiment_tracking=none (the default): no mlflow import, extra, target or file."""
    sources = [p for p in project.rglob("*.py") if ".git" not in p.relative_to(project).parts]
    assert [p for p in sources if "mlflow" in p.read_text(encoding="utf-8")] == []
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert "mlflow" not in pyproject["project"]["optional-dependencies"]
    assert "mlflow" not in str(pyproject["project"]["dependencies"])
    assert "mlflow" not in (project / "Makefile").read_text(encoding="utf-8")
    assert "mlflow" not in (project / "params.yaml").read_text(encoding="utf-8")
    assert not (project / "mlflow.db").exists()
    assert not (project / "mlruns").exists()


@pytest.fixture(scope="module")
def tracked(pipelined: Callable[..., Path]) -> Path:
    """A project baked with experiment_tracking=mlflow and the web UI, its pipeline run."""
    return pipelined(experiment_tracking="mlflow", include_ui="yes")


def test_tracked_project_registers_promotes_and_passes_its_own_tests(tracked: Path) -> None:
    """The pipeline logged a run to the local store; the registry targets act on it;
    the project's tests (a real MLflow server on 127.0.0.1 among them, and the web
    UI's through Streamlit's AppTest and headless Chromium) and lint pass."""
    assert (tracked / "mlflow.db").is_file()
    help_text = make(tracked, "help")
    for target in ("mlflow-ui", "register", "promote", "rollback", "registry"):
        assert re.search(rf"^  \S*{target}\S*\s+\S", help_text, re.MULTILINE), target
    make(tracked, "register")
    make(tracked, "promote")
    listing = make(tracked, "registry")
    assert re.search(r"^\s+1\s+champion\s", listing, re.MULTILINE), listing
    assert re.search(r"promote\s+- -> 1\s+by ", listing), listing
    refused = make_failing(tracked, "rollback")
    assert refused.returncode != 0
    assert "error: version 1 is the first champion" in refused.stderr
    assert "Traceback" not in refused.stderr

    # The files these options add or change; the rest of the suite runs in the
    # default projects above, with the same code.
    changed = "tests/test_tracking.py tests/test_ui.py tests/test_api.py tests/test_segments.py"
    output = run(  # in one process, so pytest reports file by file
        "make",
        "test",
        f"VENV={Path(sys.prefix)}",
        "TEST_WORKERS=0",
        cwd=tracked,
        env={"PYTEST_ADDOPTS": changed},
    ).stdout
    assert re.search(r"tests/test_tracking\.py \.+ ", output), output[-3000:]  # all ran, passed
    assert re.search(r"tests/test_ui\.py [.s]+ ", output), output[-3000:]  # s: no Chromium
    assert "failed" not in output
    make(tracked, "lint")
