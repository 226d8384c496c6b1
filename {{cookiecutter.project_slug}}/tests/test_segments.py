"""Metrics per segment (validate.segments) and the gate on the largest gap between segments."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import load_params
from {{ cookiecutter.package_name }}.errors import ConfigError, QualityGateError
from {{ cookiecutter.package_name }}.model.validate import (
    check_gates,
    segment_metrics,
    validate,
)

from .conftest import FAST, PROJECT, Run


def worsened(frame: pd.DataFrame, run: Run, column: str, value: str) -> pd.DataFrame:
    """``frame`` with wrong answers for one segment: the model is now bad for it alone."""
    target = run.params.data.target
    spoiled = frame.copy()
    rows = spoiled[column].astype(str) == value
    if run.params.is_classifier:
        classes = sorted(spoiled[target].dropna().unique())
        wrong = {label: classes[(i + 1) % len(classes)] for i, label in enumerate(classes)}
        spoiled.loc[rows, target] = spoiled.loc[rows, target].map(wrong)
    else:
        spoiled.loc[rows, target] = spoiled.loc[rows, target] + 4 * spoiled[target].std()
    return spoiled


def largest_segment(run: Run, column: str) -> str:
    return str(run.test[column].astype(str).value_counts().index[0])


def test_metrics_hold_every_segment_and_the_largest_gap(run: Run) -> None:
    settings = run.params.validate.segments
    report = run.metrics["segments"]
    assert settings.columns
    assert set(report["columns"]) == set(settings.columns)
    for column in settings.columns:
        segments = report["columns"][column]
        assert sum(entry["rows"] for entry in segments.values()) == len(run.test)
    metric = report["metric"]
    compared = [
        entry[metric]
        for segments in report["columns"].values()
        for entry in segments.values()
        if entry["rows"] >= settings.min_rows
    ]
    assert run.metrics["segment_gap"] <= max(compared) - min(compared) + 1e-9
    assert check_gates(run.metrics, run.params.validate.gates) == []


def test_the_gap_gate_fails_when_one_segment_is_much_worse(run: Run, tmp_path: Path) -> None:
    column = run.params.validate.segments.columns[0]
    value = largest_segment(run, column)
    data = tmp_path / "clean.csv"
    worsened(run.clean, run, column, value).to_csv(data, index=False)
    with pytest.raises(QualityGateError) as failed:
        validate(run.params, run.model_dir, data, tmp_path / "reports", figures=False)
    message = str(failed.value)
    assert "segment_gap=" in message
    assert f"({column}: " in message
    assert repr(value) in message
    written = json.loads((tmp_path / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert written["segments"]["largest_gap"]["column"] == column  # written before the gate


def test_segments_too_small_to_judge_are_reported_not_compared(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    params = load_params(
        PROJECT / "params.yaml", overrides={**FAST, "validate.segments.min_rows": 10_000}
    )
    result = segment_metrics(run.model, run.test, params.validate.segments)
    assert result["segment_gap"] is None
    assert result["segments"]["largest_gap"] is None
    assert check_gates(result, {"segment_gap": run.params.validate.gates["segment_gap"]}) == []
    assert "validate.gates.segment_gap: no segments to compare; not applied" in caplog.text


def test_missing_values_form_a_segment_of_their_own(run: Run) -> None:
    column = run.params.validate.segments.columns[0]
    frame = run.test.copy()
    frame.loc[frame.index[:3], column] = None
    result = segment_metrics(run.model, frame, run.params.validate.segments)
    assert result["segments"]["columns"][column]["(missing)"]["rows"] == 3


def test_an_unknown_segment_metric_is_a_clear_error(run: Run) -> None:
    overrides = {**FAST, "validate.segments.metric": "speed"}
    params = load_params(PROJECT / "params.yaml", overrides=overrides)
    with pytest.raises(ConfigError, match=r"validate\.segments\.metric='speed': no such"):
        segment_metrics(run.model, run.test, params.validate.segments)


def test_min_rows_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"validate.segments.min_rows=0: must be at least 1"):
        load_params(PROJECT / "params.yaml", overrides={"validate.segments.min_rows": 0})


def test_segment_columns_the_data_lacks_step_aside_with_a_warning(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    """Rules written for the sample meet a new data.source: warned about, not fatal."""
    column = run.params.validate.segments.columns[0]
    overrides = {**FAST, "validate.segments.columns": [column, "colour"]}
    params = load_params(PROJECT / "params.yaml", overrides=overrides)
    result = segment_metrics(run.model, run.test, params.validate.segments)
    assert list(result["segments"]["columns"]) == [column]
    assert "validate.segments.columns: 'colour' not a column of" in caplog.text

    overrides = {**FAST, "validate.segments.columns": ["colour", "shape"]}
    params = load_params(PROJECT / "params.yaml", overrides=overrides)
    assert segment_metrics(run.model, run.test, params.validate.segments) == {}
    gap_gate = {"segment_gap": run.params.validate.gates["segment_gap"]}
    assert check_gates({}, gap_gate) == []
    assert "validate.gates.segment_gap: no segments to compare; not applied" in caplog.text
