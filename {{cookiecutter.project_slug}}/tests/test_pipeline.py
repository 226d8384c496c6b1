"""The pipeline without DVC (`python -m ...pipeline`), as docker-compose.yml trains with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.files import sha256_file
from {{ cookiecutter.package_name }}.model.artifact import load_model

from .conftest import FAST, PROJECT, Run, run_module

PIPELINE = "{{ cookiecutter.package_name }}.pipeline"


@pytest.fixture
def light_params(project_copy: Path) -> Path:
    """params.yaml with the test session's lighter search and the sample data's full path."""
    path = project_copy / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["data"]["source"] = str(PROJECT / params["data"]["source"])
    for dotted, value in FAST.items():
        section, key = dotted.split(".")
        params[section][key] = value
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_model_that_passes_every_gate_is_published(light_params: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    result = run_module(PIPELINE, "--model-dir", str(models), cwd=light_params.parent)
    assert result.returncode == 0, result.stderr
    model = load_model(models)  # loads: artifact and card match
    assert model.metrics is not None
    assert model.metrics["model_version"] == model.version
    assert "segment_gap" in model.metrics
    assert sorted(path.name for path in models.iterdir()) == [
        "metadata.json",
        "metrics.json",
        "model.joblib",
    ]


@pytest.mark.slow
def test_a_model_that_fails_a_gate_never_replaces_the_served_one(
    run: Run, light_params: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(run.model_dir, models)
    before = {path.name: sha256_file(path) for path in models.iterdir()}
    params = yaml.safe_load(light_params.read_text(encoding="utf-8"))
    params["validate"]["gates"]["segment_gap"] = {"max": -1}  # no model can meet it
    light_params.write_text(yaml.safe_dump(params), encoding="utf-8")
    work = tmp_path / "work"
    result = run_module(
        PIPELINE, "--model-dir", str(models), "--work-dir", str(work), cwd=light_params.parent
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: quality gate failed: ")
    assert "segment_gap=" in result.stderr
    assert {path.name: sha256_file(path) for path in models.iterdir()} == before
    assert (work / "model" / "model.joblib").is_file()  # kept for inspection
    metrics = json.loads((work / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["segment_gap"] > -1
