"""Metrics per segment (validate.segments) and the gate on the largest gap between segments."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import Gate, Params, load_params
from {{ cookiecutter.package_name }}.errors import ConfigError, QualityGateError
from {{ cookiecutter.package_name }}.model.validate import (
    check_gates,
    segment_metrics,
    validate,
)

from .conftest import PROJECT, Run, meeting_gates


@dataclass(frozen=True)
class Segmented:
    """The data with a segment column, and params whose segments.columns name it."""

    params: Params
    column: str
    clean: pd.DataFrame
    test: pd.DataFrame


def with_segments(params: Params, **changes: Any) -> Params:
    segments = replace(params.validate.segments, **changes)
    return replace(params, validate=replace(params.validate, segments=segments))


@pytest.fixture(scope="module")
def segmented(run: Run) -> Segmented:
    """The first of validate.segments.columns that the data has. Data with none of them
    (params.yaml names the sample's) gets a stand-in column that splits its rows in
    two, so that how segments are measured and gated is still checked on it."""
    present = [c for c in run.params.validate.segments.columns if c in run.clean.columns]
    if present:
        return Segmented(run.params, present[0], run.clean, run.test)
    column = absent_column(run.clean, "segment")
    halves = np.where(np.arange(len(run.clean)) % 2 == 0, "even", "odd")
    clean = run.clean.assign(**{column: halves})
    params = with_segments(run.params, columns=[column])
    return Segmented(params, column, clean, clean.loc[run.test.index])


def absent_column(frame: pd.DataFrame, name: str) -> str:
    """``name``, or ``name`` with underscores added until ``frame`` has no such column."""
    while name in frame.columns:
        name += "_"
    return name


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


def largest_segment(frame: pd.DataFrame, column: str) -> str:
    return str(frame[column].astype(str).value_counts().index[0])


def test_metrics_hold_every_segment_and_the_largest_gap(run: Run) -> None:
    settings = run.params.validate.segments
    present = [column for column in settings.columns if column in run.clean.columns]
    if not present:
        pytest.skip(
            f"validate.segments.columns {settings.columns} names no column of "
            f"{run.params.data.source.name}: set it to columns of your data (groups the "
            "model must serve equally well) to have the model measured per segment"
        )
    report = run.metrics["segments"]
    assert set(report["columns"]) == set(present)
    for column in present:
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
    gate = run.params.validate.gates.get("segment_gap")
    if gate is not None:  # the validate stage applied the gap gate as check_gates does
        missed = check_gates(run.metrics, {"segment_gap": gate})
        assert bool(missed) == ("segment_gap=" in (run.gate_failure or "")), missed


def test_the_gap_gate_fails_when_one_segment_is_much_worse(
    run: Run, segmented: Segmented, tmp_path: Path
) -> None:
    column = segmented.column
    value = largest_segment(segmented.test, column)
    # gates this model meets (params.yaml's, for the sample), so only the gap can fail
    gates = meeting_gates(run).validate.gates
    if "segment_gap" not in gates:  # not in params.yaml: bound it by today's gap
        today = segment_metrics(run.model, segmented.test, segmented.params.validate.segments)
        gates = {**gates, "segment_gap": Gate(max=today["segment_gap"] or 0.0)}
    params = replace(segmented.params, validate=replace(segmented.params.validate, gates=gates))
    data = tmp_path / "clean.csv"
    worsened(segmented.clean, run, column, value).to_csv(data, index=False)
    with pytest.raises(QualityGateError) as failed:
        validate(params, run.model_dir, data, tmp_path / "reports", figures=False)
    message = str(failed.value)
    assert "segment_gap=" in message
    assert f"({column}: " in message
    assert repr(value) in message
    written = json.loads((tmp_path / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert written["segments"]["largest_gap"]["column"] == column  # written before the gate


def test_segments_too_small_to_judge_are_reported_not_compared(
    run: Run, segmented: Segmented, caplog: pytest.LogCaptureFixture
) -> None:
    params = with_segments(segmented.params, min_rows=10_000)
    result = segment_metrics(run.model, segmented.test, params.validate.segments)
    assert result["segment_gap"] is None
    assert result["segments"]["largest_gap"] is None
    assert segmented.column in result["segments"]["columns"]
    assert check_gates(result, {"segment_gap": Gate(max=0.0)}) == []
    assert "validate.gates.segment_gap: no segments to compare; not applied" in caplog.text


def test_missing_values_form_a_segment_of_their_own(run: Run, segmented: Segmented) -> None:
    column = segmented.column
    frame = segmented.test.copy()
    frame.loc[frame.index[:3], column] = None
    result = segment_metrics(run.model, frame, segmented.params.validate.segments)
    assert result["segments"]["columns"][column]["(missing)"]["rows"] == 3


def test_an_unknown_segment_metric_is_a_clear_error(run: Run, segmented: Segmented) -> None:
    expected = r"validate\.segments\.metric='speed': not a (classification|regression) metric"
    with pytest.raises(ConfigError, match=expected):  # when the params are read
        with_segments(segmented.params, metric="speed")
    speed = replace(segmented.params.validate.segments, metric="speed")
    with pytest.raises(ConfigError, match=expected):  # and by validate, given the section
        segment_metrics(run.model, segmented.test, speed)


def test_min_rows_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"validate.segments.min_rows=0: must be at least 1"):
        load_params(PROJECT / "params.yaml", overrides={"validate.segments.min_rows": 0})


def test_segment_columns_the_data_lacks_step_aside_with_a_warning(
    run: Run, segmented: Segmented, caplog: pytest.LogCaptureFixture
) -> None:
    """Rules written for the sample meet a new data.source: warned about, not fatal."""
    column = segmented.column
    absent = [absent_column(segmented.test, name) for name in ("colour", "shape")]
    params = with_segments(segmented.params, columns=[column, absent[0]])
    result = segment_metrics(run.model, segmented.test, params.validate.segments)
    assert list(result["segments"]["columns"]) == [column]
    assert f"validate.segments.columns: {absent[0]!r} not a column of" in caplog.text

    params = with_segments(segmented.params, columns=absent)
    assert segment_metrics(run.model, segmented.test, params.validate.segments) == {}
    gap_gate = {"segment_gap": Gate(max=0.0)}
    assert check_gates({}, gap_gate) == []
    assert "validate.gates.segment_gap: no segments to compare; not applied" in caplog.text
