"""Shared fixtures: the pipeline run once per test session on the embedded data.

The fixtures call the same functions as the DVC stages, in a temporary folder,
with a lighter search (no grid, 3 folds) so the suite runs in seconds. The
suite therefore needs neither ``make pipeline`` nor network access.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import Gate, Params, load_params
from {{ cookiecutter.package_name }}.data_processing.cleaning import clean
from {{ cookiecutter.package_name }}.data_processing.ingest import ingest
from {{ cookiecutter.package_name }}.errors import QualityGateError
from {{ cookiecutter.package_name }}.files import read_json, read_table
from {{ cookiecutter.package_name }}.model.artifact import LoadedModel, load_model
from {{ cookiecutter.package_name }}.model.train import split_train_test, train
from {{ cookiecutter.package_name }}.model.validate import validate

PROJECT = Path(__file__).resolve().parents[1]
FAST = {"train.search": "none", "train.cv_folds": 3}
API_KEY = "test-key-0123456789abcdef"  # pragma: allowlist secret


@dataclass(frozen=True)
class Run:
    params: Params
    raw: pd.DataFrame
    clean: pd.DataFrame
    train: pd.DataFrame
    test: pd.DataFrame
    model_dir: Path
    model: LoadedModel
    metrics: dict[str, Any]
    clean_file: Path
    gate_failure: str | None = None  # the validate stage's error when a gate was missed


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(PROJECT / "params.yaml", overrides=FAST)


@pytest.fixture(scope="session")
def run(params: Params, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """ingest -> clean -> train -> validate, as `make pipeline` runs them."""
    root = tmp_path_factory.mktemp("pipeline")
    source = PROJECT / params.data.source
    params = load_params(PROJECT / "params.yaml", overrides={**FAST, "data.source": str(source)})
    raw_file = ingest(params, root / "raw.csv")
    # .copy(): in one block per dtype, where read_csv leaves wide data in one per
    # column, on which pandas warns (an error in these tests) when a test adds a column
    raw = read_table(raw_file).copy()
    cleaned = clean(raw, params, raw_file)
    clean_file = root / "clean.csv"
    cleaned.to_csv(clean_file, index=False)
    frame = read_table(clean_file).copy()
    train_part, test_part = split_train_test(frame, params, clean_file)
    model_dir = root / "models"
    train(params, clean_file, model_dir)
    gate_failure = None
    try:
        metrics = validate(params, model_dir, clean_file, root / "reports", figures=False)
    except QualityGateError as error:
        # params.yaml ships the sample data's gates, which a model of other data may
        # miss: test_model_meets_the_quality_gates reports that, and the tests that
        # need a model passing its gates loosen them (meeting_gates). The stage wrote
        # its metrics before the gates decided.
        metrics = read_json(root / "reports" / "metrics.json")
        gate_failure = str(error)
    return Run(
        params,
        raw,
        frame,
        train_part,
        test_part,
        model_dir,
        load_model(model_dir),
        metrics,
        clean_file,
        gate_failure,
    )


def first_feature(run: Run, kind: str) -> str:
    """The model's first ``numeric`` or ``categorical`` feature; the test skips for a
    model without one."""
    names: list[str] = getattr(run.model.spec, kind)
    if not names:
        column = "text" if kind == "categorical" else "number"
        pytest.skip(
            f"checks {kind} features, and this data has none: it runs for data "
            f"with a {column} column (or one listed in features.{kind})"
        )
    return names[0]


def first_categorical(run: Run) -> str:
    return first_feature(run, "categorical")


def first_numeric(run: Run) -> str:
    return first_feature(run, "numeric")


def met(gates: dict[str, Gate], metrics: dict[str, Any]) -> dict[str, Gate]:
    """``gates`` with every bound that ``metrics`` miss moved to the value they reach."""
    loosened = {}
    for name, gate in gates.items():
        value = metrics.get(name)
        low, high = gate.min, gate.max
        if isinstance(value, int | float):
            if low is not None and value < low:
                low = math.floor(value * 10_000) / 10_000
            if high is not None and value > high:
                high = math.ceil(value * 10_000) / 10_000
        loosened[name] = Gate(min=low, max=high)
    return loosened


def meeting_gates(run: Run) -> Params:
    """``run.params`` with the quality gates (and promotion gates) this model misses
    loosened to what it reaches, for tests of what happens to a model that passes.
    For a model that meets every gate, as the sample's does, the params are unchanged."""
    validate_params = dataclasses.replace(
        run.params.validate, gates=met(run.params.validate.gates, run.metrics)
    )
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    mlflow_params = run.params.mlflow
    if mlflow_params.promotion is not None:
        promotion = dataclasses.replace(
            mlflow_params.promotion, gates=met(mlflow_params.promotion.gates, run.metrics)
        )
        mlflow_params = dataclasses.replace(mlflow_params, promotion=promotion)
    return dataclasses.replace(run.params, validate=validate_params, mlflow=mlflow_params)
{%- else %}
    return dataclasses.replace(run.params, validate=validate_params)
{%- endif %}


def run_module(
    module: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module>`` the way a user or a DVC stage does."""
    environment = {**os.environ, "PYTHONPATH": str(PROJECT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A scratch project folder with params.yaml, to run commands against bad inputs."""
    (tmp_path / "params.yaml").write_text(
        (PROJECT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return tmp_path


@contextmanager
def serving(run: Run, log_file: Path, **settings: str) -> Iterator[str]:
    """``python -m ...serve`` under gunicorn on a free port of 127.0.0.1, logging to
    ``log_file``; yields its URL and stops it (SIGTERM, as SageMaker does) on exit,
    checking that it left nothing in its temporary folder."""
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="server-tmp-"))
    env = {
        **os.environ,
        "TMPDIR": str(scratch),
        "PYTHONPATH": str(PROJECT),
        "MODEL_DIR": str(run.model_dir),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WORKERS": "2",
        "API_KEYS": API_KEY,
        **settings,
    }
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "{{ cookiecutter.package_name }}.serve", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"server exited: {log_file.read_text()}")
                if time.monotonic() > deadline:
                    pytest.fail("server did not answer /ping within 60 s")
                time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    left = sorted(path.name for path in scratch.iterdir())
    shutil.rmtree(scratch)
    assert not left, f"the server left {left} in its TMPDIR"


@pytest.fixture(scope="session")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server") / "server.log"


@pytest.fixture(scope="session")
def server(run: Run, server_log: Path) -> Iterator[str]:
    """One server for the session's HTTP tests, with the default settings."""
    with serving(run, server_log) as url:
        yield url
