"""Shared fixtures: the pipeline run once per test session on the embedded data.

The fixtures call the same functions as the DVC stages, in a temporary folder,
with a lighter search (no grid, 3 folds) so the suite runs in seconds. The
suite therefore needs neither ``make pipeline`` nor network access.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import Params, load_params
from {{ cookiecutter.package_name }}.data_processing.cleaning import clean
from {{ cookiecutter.package_name }}.data_processing.ingest import ingest
from {{ cookiecutter.package_name }}.files import read_table
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
    raw = read_table(raw_file)
    cleaned = clean(raw, params, raw_file)
    clean_file = root / "clean.csv"
    cleaned.to_csv(clean_file, index=False)
    frame = read_table(clean_file)
    train_part, test_part = split_train_test(frame, params, clean_file)
    model_dir = root / "models"
    train(params, clean_file, model_dir)
    metrics = validate(params, model_dir, clean_file, root / "reports", figures=False)
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
    )


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
    ``log_file``; yields its URL and stops it (SIGTERM, as SageMaker does) on exit."""
    port = free_port()
    env = {
        **os.environ,
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


@pytest.fixture(scope="session")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server") / "server.log"


@pytest.fixture(scope="session")
def server(run: Run, server_log: Path) -> Iterator[str]:
    """One server for the session's HTTP tests, with the default settings."""
    with serving(run, server_log) as url:
        yield url
