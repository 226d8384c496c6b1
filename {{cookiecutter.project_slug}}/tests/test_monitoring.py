"""Monitoring: the prediction log the service writes, and the drift check and its gate."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.config import MonitoringParams, Settings
from {{ cookiecutter.package_name }}.errors import ConfigError, QualityGateError, UserError
from {{ cookiecutter.package_name }}.monitoring.drift import (
    check_drift,
    compare,
    reference_data,
)
from {{ cookiecutter.package_name }}.monitoring.prediction_log import (
    PredictionLog,
    log_files,
    read_prediction_logs,
)
from {{ cookiecutter.package_name }}.serve import create_app

from .conftest import API_KEY, PROJECT, Run, first_categorical, first_numeric, run_module, serving
from .test_api import not_a_feature, records

PACKAGE = "{{ cookiecutter.package_name }}"
DRIFT = f"{PACKAGE}.monitoring.drift"


def logging_app(run: Run, folder: Path, sample: float = 1.0, **settings: Any) -> Any:
    return create_app(
        Settings(
            model_dir=run.model_dir,
            api_keys=(API_KEY,),
            prediction_log_dir=folder,
            prediction_log_sample=sample,
            **settings,
        )
    )


def logged_lines(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(log_files(folder))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def monitoring(run: Run) -> MonitoringParams:
    """The drift check's settings; for data whose held-out part (the "recent" data of
    these tests) has fewer rows than monitoring.min_rows, min_rows lowered to its size."""
    settings = run.params.monitoring
    return replace(settings, min_rows=min(settings.min_rows, len(run.test)))


def drift_params(run: Run, folder: Path) -> Path:
    """params.yaml in ``folder`` (copied from the project if not there), with min_rows
    as ``monitoring`` sets it."""
    path = folder / "params.yaml"
    if not path.is_file():
        shutil.copyfile(PROJECT / "params.yaml", path)
    if monitoring(run) != run.params.monitoring:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
        params["monitoring"]["min_rows"] = monitoring(run).min_rows
        path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def recent(run: Run) -> pd.DataFrame:
    """Rows like the training rows, the "recent" data these tests shift: the held-out
    rows; or, where a feature of theirs differs from the training rows' by chance (many
    features, few rows), as many training rows, drawn at random."""
    spec, settings = run.model.spec, monitoring(run)
    reference = spec.coerce(run.train)
    drawn = run.train.sample(len(run.test), random_state=0)
    drifted: list[str] = []
    for rows in (run.test, drawn):
        drifted = [f.name for f in compare(reference, spec.coerce(rows), spec, settings).drifted]
        if not drifted:
            return rows
    pytest.skip(
        f"the held-out rows, and as many training rows, differ from the training rows in "
        f"{', '.join(drifted)} by chance: no unshifted sample to compare shifted ones with"
    )


def shifted(frame: pd.DataFrame, run: Run) -> tuple[pd.DataFrame, str]:
    """``frame`` with its first numeric feature moved by three standard deviations."""
    name = first_numeric(run)
    moved = frame.copy()
    moved[name] = moved[name] + 3 * run.train[name].std()
    return moved, name


# --------------------------------------------------------------------------- prediction log


def test_the_log_is_off_unless_a_folder_is_set(run: Run) -> None:
    assert Settings.from_env({}, dotenv=Path("/nonexistent")).prediction_log_dir is None
    assert PredictionLog.from_settings(Settings(model_dir=run.model_dir)) is None


def test_each_request_is_one_line_without_keys_or_headers(run: Run, tmp_path: Path) -> None:
    client = logging_app(run, tmp_path).test_client()
    sent = records(run.test.head(3), run)
    responses = [
        client.post("/predict", json={"instances": sent[:2]}, headers={"X-API-Key": API_KEY}),
        client.post(
            "/invocations",
            json={"instances": sent[2:]},
            headers={"Authorization": f"Bearer {API_KEY}", "X-Request-ID": "trace-7"},
        ),
    ]
    assert [r.status_code for r in responses] == [200, 200]
    lines = logged_lines(tmp_path)
    assert [line["rows"] for line in lines] == [2, 1]
    assert lines[1]["request_id"] == "trace-7"
    assert lines[0]["request_id"] == responses[0].headers["X-Request-ID"]
    for line, response in zip(lines, responses, strict=True):
        assert line["model_version"] == run.model.version
        assert line["predictions"] == response.json["predictions"]
        assert set(line) == {
            "time",
            "request_id",
            "model_version",
            "rows",
            "features",
            "predictions",
        }
    assert lines[0]["features"][run.model.spec.columns[0]] == [
        row[run.model.spec.columns[0]] for row in sent[:2]
    ]
    written = b"".join(path.read_bytes() for path in log_files(tmp_path))
    assert API_KEY.encode() not in written
    assert b"Bearer" not in written
    assert b"X-API-Key" not in written


def test_rejected_requests_are_not_logged(run: Run, tmp_path: Path) -> None:
    client = logging_app(run, tmp_path).test_client()
    row = records(run.test.head(1), run)[0]
    assert client.post("/predict", json={"instances": [row]}).status_code == 401
    spec = run.model.spec
    bad = {**row, spec.numeric[0]: "not a number"} if spec.numeric else {not_a_feature(run): 1}
    response = client.post("/predict", json={"instances": [bad]}, headers={"X-API-Key": API_KEY})
    assert response.status_code == 422
    assert logged_lines(tmp_path) == []


@pytest.mark.parametrize(("sample", "low", "high"), [(0.0, 0, 0), (0.25, 60, 140), (1.0, 400, 400)])
def test_the_sampling_rate_is_respected(
    run: Run, tmp_path: Path, sample: float, low: int, high: int
) -> None:
    client = logging_app(run, tmp_path, sample=sample).test_client()
    row = records(run.test.head(1), run)
    random.seed(7)  # binomial(400, 0.25) is 100 +/- 9: the bounds are 4.5 sigma wide
    for _ in range(400):
        client.post("/predict", json={"instances": row}, headers={"X-API-Key": API_KEY})
    assert low <= len(logged_lines(tmp_path)) <= high


def test_files_rotate_and_the_oldest_are_deleted(run: Run, tmp_path: Path) -> None:
    app = logging_app(run, tmp_path, prediction_log_max_bytes=2048, prediction_log_max_files=3)
    client = app.test_client()
    rows = records(run.test.head(2), run)
    for _ in range(100):
        client.post("/predict", json={"instances": rows}, headers={"X-API-Key": API_KEY})
    files = sorted(log_files(tmp_path))
    assert len(files) == 3
    longest = max(len(line) for path in files for line in path.read_bytes().splitlines())
    assert all(path.stat().st_size <= 2048 + longest + 1 for path in files)
    lines = logged_lines(tmp_path)
    assert 0 < len(lines) < 100
    assert lines == sorted(lines, key=lambda line: line["time"])  # the newest were kept


def test_another_workers_current_file_is_never_pruned(run: Run, tmp_path: Path) -> None:
    """More workers than PREDICTION_LOG_MAX_FILES must not delete each other's files
    (and most records) in turn; a file of a process that has ended may go."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    running = tmp_path / f"predictions-20000101T000000000000Z-{os.getppid()}.jsonl"
    stale = tmp_path / f"predictions-19990101T000000000000Z-{ended.pid}.jsonl"
    for path in (running, stale):
        path.write_text("", encoding="utf-8")
    client = logging_app(run, tmp_path, prediction_log_max_files=1).test_client()
    rows = records(run.test.head(1), run)
    response = client.post("/predict", json={"instances": rows}, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200
    assert running.exists()
    assert not stale.exists()
    assert len(log_files(tmp_path)) == 2  # the bound, and one file for each running writer


# A batch as the service passes it (rows, numeric arrays, category lists), without
# importing pandas: four processes start in a second.
WRITER = """
import sys
from pathlib import Path
from types import SimpleNamespace
import numpy as np
from {{ cookiecutter.package_name }}.monitoring.prediction_log import PredictionLog

folder, worker = Path(sys.argv[1]), int(sys.argv[2])
log = PredictionLog(folder, sample=1.0, max_bytes=4096, max_files=10_000)
for index in range(300):
    numeric = dict(x=np.array([worker, index], dtype=float))
    batch = SimpleNamespace(rows=2, numeric=numeric, categorical=dict(c=["a", None]))
    log.record(batch, [worker, index], "v1", "%d-%d" % (worker, index))
"""


def test_several_processes_never_interleave_lines(tmp_path: Path) -> None:
    """Like gunicorn workers: four processes writing to one folder at once."""
    script = WRITER
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(worker)], env=env)
        for worker in range(4)
    ]
    assert [process.wait(timeout=60) for process in workers] == [0, 0, 0, 0]
    lines = logged_lines(tmp_path)  # every line parses as JSON
    assert len(lines) == 4 * 300
    assert {line["request_id"] for line in lines} == {
        f"{worker}-{index}" for worker in range(4) for index in range(300)
    }
    assert len({path.name.rsplit("-", 1)[1] for path in log_files(tmp_path)}) == 4  # pids


def test_a_failed_write_never_fails_the_request(
    run: Run, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "predictions"
    client = logging_app(run, folder).test_client()
    shutil.rmtree(folder)  # the disk went away after start-up
    row = records(run.test.head(1), run)
    response = client.post("/predict", json={"instances": row}, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200
    assert "prediction log: cannot write" in caplog.text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PREDICTION_LOG_SAMPLE": "1.5"}, "PREDICTION_LOG_SAMPLE=1.5: must be 0 to 1"),
        ({"PREDICTION_LOG_SAMPLE": "often"}, "PREDICTION_LOG_SAMPLE='often': must be a number"),
        ({"PREDICTION_LOG_MAX_FILES": "0"}, "PREDICTION_LOG_MAX_FILES=0: must be 1 or more"),
    ],
)
def test_bad_log_settings_stop_start_up(
    run: Run, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    def start() -> None:
        values = {"PREDICTION_LOG_DIR": str(tmp_path), "API_KEYS": API_KEY, **env}
        create_app(Settings.from_env(values, dotenv=Path("/nonexistent")), model=run.model)

    with pytest.raises(ConfigError, match=message):
        start()


def test_an_unusable_log_folder_stops_start_up(run: Run, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"PREDICTION_LOG_DIR=.*cannot create it"):
        logging_app(run, blocker / "predictions")


@pytest.mark.slow
def test_a_served_log_feeds_the_drift_check(run: Run, recent: pd.DataFrame, tmp_path: Path) -> None:
    """gunicorn with two workers logs requests; the drift check reads the folder."""
    folder = tmp_path / "predictions"
    with serving(run, tmp_path / "server.log", PREDICTION_LOG_DIR=str(folder)) as url:
        rows = records(recent, run)
        for start in range(0, len(rows), 5):
            request = urllib.request.Request(
                f"{url}/predict",
                data=json.dumps({"instances": rows[start : start + 5]}).encode(),
                headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
            )
            urllib.request.urlopen(request, timeout=10).close()
    logged = read_prediction_logs([folder], run.model.spec)
    assert len(logged) == len(rows)
    assert set(logged["model_version"]) == {run.model.version}
    result = compare(
        run.model.spec.coerce(run.train),
        run.model.spec.coerce(logged),
        run.model.spec,
        monitoring(run),
    )
    assert result.drifted == []


# --------------------------------------------------------------------------- drift


@pytest.fixture
def drift_project(run: Run, project_copy: Path) -> Path:
    """A project folder with the trained model and its clean data where make drift expects them."""
    (project_copy / "data" / "processed").mkdir(parents=True)
    shutil.copyfile(run.clean_file, project_copy / "data" / "processed" / "clean.csv")
    shutil.copytree(run.model_dir, project_copy / "models")
    drift_params(run, project_copy)
    return project_copy


def test_the_reference_is_the_split_the_model_was_trained_on(
    run: Run, drift_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """params.yaml may have moved on (a new test_size whose model failed its gates):
    the training rows are those of the model card."""
    monkeypatch.chdir(drift_project)
    params = Path("params.yaml")
    raw = yaml.safe_load(params.read_text(encoding="utf-8"))
    raw["data"]["test_size"], raw["data"]["seed"] = 0.5, 7
    params.write_text(yaml.safe_dump(raw), encoding="utf-8")
    reference, _ = reference_data(run.model, params, None)
    assert len(reference) == run.model.metadata["data"]["train_rows"] == len(run.train)


def test_an_unshifted_sample_passes(run: Run, recent: pd.DataFrame, drift_project: Path) -> None:
    current = drift_project / "recent.csv"
    recent.to_csv(current, index=False)
    result = run_module(DRIFT, "--current", str(current), cwd=drift_project)
    assert result.returncode == 0, result.stderr
    summary = json.loads((drift_project / "reports/drift/summary.json").read_text())
    assert summary["passed"] is True
    assert summary["drifted"] == []
    assert set(summary["features"]) == set(run.model.spec.columns)
    assert summary["reference"]["rows"] == len(run.train)
    assert summary["current"]["rows"] == len(recent)
    report = (drift_project / "reports/drift/report.html").read_text(encoding="utf-8")
    assert "passed" in report
    assert report.count("data:image/png;base64,") == len(run.model.spec.columns)


def test_a_shifted_feature_trips_the_gate_and_is_named(
    run: Run, recent: pd.DataFrame, drift_project: Path
) -> None:
    moved, name = shifted(recent, run)
    current = drift_project / "recent.csv"
    moved.to_csv(current, index=False)
    result = run_module(DRIFT, "--current", str(current), "--no-figures", cwd=drift_project)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: drift gate failed: 1 drifted feature(s), at most 0")
    assert f"{name} (PSI" in lines[-1]
    assert "Traceback" not in result.stderr
    summary = json.loads((drift_project / "reports/drift/summary.json").read_text())
    assert summary["drifted"] == [name]
    assert summary["features"][name]["p_value"] < 0.01
    assert "FAILED" in (drift_project / "reports/drift/report.html").read_text(encoding="utf-8")


def test_a_shifted_category_is_caught(run: Run, recent: pd.DataFrame) -> None:
    name = first_categorical(run)
    spec = run.model.spec
    moved = spec.coerce(recent)
    rare = spec.coerce(run.train)[name].value_counts().index[-1]
    moved[name] = rare
    result = compare(spec.coerce(run.train), moved, spec, monitoring(run))
    assert [feature.name for feature in result.drifted] == [name]
    assert result.drifted[0].test == "chi2"


def test_a_numeric_feature_that_goes_missing_is_caught(run: Run, recent: pd.DataFrame) -> None:
    """Kolmogorov-Smirnov sees only the values present; the missing share is tested too."""
    name = first_numeric(run)
    spec = run.model.spec
    moved = spec.coerce(recent)
    moved.loc[moved.index[: int(len(moved) * 0.9)], name] = np.nan
    result = compare(spec.coerce(run.train), moved, spec, monitoring(run))
    assert [feature.name for feature in result.drifted] == [name]
    assert result.drifted[0].test == "chi2 (missing)"


def test_the_gate_allows_as_many_drifted_features_as_configured(
    run: Run, recent: pd.DataFrame
) -> None:
    spec = run.model.spec
    moved, _ = shifted(recent, run)
    settings = replace(monitoring(run), max_drifted_features=1)
    result = compare(spec.coerce(run.train), spec.coerce(moved), spec, settings)
    assert len(result.drifted) == 1
    assert result.passed


def test_logged_predictions_are_checked_like_tables(
    run: Run, recent: pd.DataFrame, tmp_path: Path
) -> None:
    folder = tmp_path / "predictions"
    client = logging_app(run, folder).test_client()
    moved, name = shifted(recent, run)
    for frame in (recent, moved):
        rows = records(frame, run)
        client.post("/predict", json={"instances": rows}, headers={"X-API-Key": API_KEY})
    logged = read_prediction_logs([folder], run.model.spec)
    assert len(logged) == 2 * len(recent)
    half = len(recent)
    spec, settings = run.model.spec, monitoring(run)
    reference = spec.coerce(run.train)
    assert compare(reference, spec.coerce(logged.iloc[:half]), spec, settings).drifted == []
    drifted = compare(reference, spec.coerce(logged.iloc[half:]), spec, settings).drifted
    assert [feature.name for feature in drifted] == [name]


def test_check_drift_writes_reports_before_failing(run: Run, tmp_path: Path) -> None:
    reference, current = tmp_path / "reference.csv", tmp_path / "current.csv"
    run.train.to_csv(reference, index=False)
    shifted(run.test, run)[0].to_csv(current, index=False)
    params = drift_params(run, tmp_path)
    with pytest.raises(QualityGateError, match="drift gate failed"):
        check_drift([current], run.model_dir, params, reference, tmp_path / "out", False)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["passed"] is False


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("few-rows", "current data has 5 rows; the drift check needs at least {min_rows}"),
        ("missing-column", "feature column"),
        ("other-data", "not the data model"),
        ("bad-params", "params: monitoring.p_value_min=2.0: must be between 0 and 1"),
        ("missing-file", "nope.csv: file or folder not found"),
        ("semicolons", "looks ';'-separated (make drift reads comma-separated files)"),
    ],
)
def test_bad_input_is_refused_clearly(
    run: Run, drift_project: Path, monkeypatch: pytest.MonkeyPatch, case: str, message: str
) -> None:
    monkeypatch.chdir(drift_project)  # where make drift runs
    message = message.format(min_rows=monitoring(run).min_rows)
    current = Path("recent.csv")
    frame = run.test
    if case == "few-rows":
        frame = frame.head(5)
    if case == "missing-column":
        frame = frame.drop(columns=[run.model.spec.columns[0]])
    frame.to_csv(current, index=False, sep=";" if case == "semicolons" else ",")
    if case == "other-data":
        clean = Path("data/processed/clean.csv")
        clean.write_text(clean.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    params = Path("params.yaml")
    if case == "bad-params":
        raw = yaml.safe_load(params.read_text(encoding="utf-8"))
        raw["monitoring"]["p_value_min"] = 2
        params.write_text(yaml.safe_dump(raw), encoding="utf-8")
    if case == "missing-file":
        current = Path("nope.csv")
    earlier = Path("reports/drift/summary.json")  # an earlier check's, which passed
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"passed": true}', encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(message)) as raised:
        check_drift([current], Path("models"), params, figures=False)
    assert raised.value.exit_code == 2
    assert not earlier.exists(), "a refused check must not leave a report that reads as its own"


def test_the_command_fails_in_one_line_without_current_data(drift_project: Path) -> None:
    result = run_module(DRIFT, cwd=drift_project, env={"PREDICTION_LOG_DIR": ""})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no current data: pass --current FILE_OR_FOLDER (CSV, Parquet or prediction "
        "logs) or set PREDICTION_LOG_DIR"
    ]


def test_psi_is_zero_for_identical_data_and_grows_with_the_shift(run: Run) -> None:
    spec, settings = run.model.spec, monitoring(run)
    reference = spec.coerce(run.train)
    same = compare(reference, reference, spec, settings)
    assert all(feature.psi == pytest.approx(0, abs=1e-9) for feature in same.features)
    name = first_numeric(run)
    psis = []
    for sigmas in (0.5, 1, 2):
        moved = reference.copy()
        moved[name] = moved[name] + sigmas * reference[name].std()
        features = {f.name: f for f in compare(reference, moved, spec, settings).features}
        psis.append(features[name].psi)
    assert psis == sorted(psis)
    assert np.isfinite(psis).all()
