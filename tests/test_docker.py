"""The serving image, built and run in a real Docker engine.

Bakes the defaults, trains the model with the shared environment, builds
``<package>/serve/Dockerfile`` on the base image of ``tests/docker_support.py``
and runs ``<image> serve`` the way SageMaker does: model mounted read-only at
/opt/ml/model, port 8080. Without a usable daemon or base image every test here
is skipped, with the reason (``pytest -ra`` shows it).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import run
from .docker_support import (
    LABEL,
    base_image,
    build,
    docker,
    image_size,
    remove,
    unique_name,
    wait_for_http,
)

# The budget: the serving image adds at most this much to its base.
MAX_ADDED_BYTES = 300 * 1000**2
API_KEY = f"template-test-{uuid.uuid4().hex}"

# Predictions of the model as the project itself loads it (load_model), on rows
# of the cleaned data; rows with missing values first, as they take the
# imputation path. Runs in a subprocess with the baked project on PYTHONPATH.
EXPECTED_SCRIPT = """
import importlib, json, sys
from pathlib import Path
import pandas as pd

package, project = sys.argv[1], Path(sys.argv[2])
model = importlib.import_module(package + ".model.artifact").load_model(project / "models")
frame = pd.read_csv(project / "data" / "processed" / "clean.csv")[model.spec.columns]
rows = pd.concat([frame[frame.isna().any(axis=1)].head(5), frame.dropna().head(25)])
json.dump({
    "records": json.loads(rows.to_json(orient="records", double_precision=15)),
    "csv": rows.to_csv(index=False),
    "predictions": model.predict(rows).tolist(),
    "version": model.version,
}, sys.stdout)
"""


@pytest.fixture(scope="module")
def project(docker_ready: None, pipelined: Callable[..., Path]) -> Path:
    """The defaults, baked, with the model trained by `make pipeline`."""
    return pipelined()


@pytest.fixture(scope="module")
def package(project: Path) -> str:
    return next(project.glob("*/serve/Dockerfile")).parent.parent.name


@pytest.fixture(scope="module")
def expected(project: Path, package: str) -> dict[str, Any]:
    result = run(
        sys.executable,
        "-c",
        EXPECTED_SCRIPT,
        package,
        project,
        cwd=project,
        env={"PYTHONPATH": str(project)},
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def image(project: Path, package: str) -> Iterator[str]:
    tag = f"{unique_name('template-test-serve')}:latest"
    try:
        build(
            project,
            project / package / "serve" / "Dockerfile",
            tag,
            {"BASE_IMAGE": base_image()},
        )
        yield tag
    finally:
        remove("image", [tag])


def start(image: str, project: Path, name: str, port: int = 8080, *env: str) -> str:
    """Run ``<image> serve`` like SageMaker; returns the base URL once /ping answers.

    The container is expected on ``port``, with ``env`` (``KEY=value``) set. Only the
    health-check interval is shortened (the image's is 30 s); the check itself is the
    image's HEALTHCHECK command.
    """
    docker(
        "run",
        "--detach",
        "--name",
        name,
        "--label",
        LABEL,
        "--publish",
        f"127.0.0.1::{port}",
        "--volume",
        f"{project / 'models'}:/opt/ml/model:ro",
        "--env",
        f"API_KEYS={API_KEY}",
        *(part for pair in env for part in ("--env", pair)),
        "--health-interval",
        "1s",
        image,
        "serve",
    )
    host_port = docker("port", name, f"{port}/tcp").stdout.split()[0]
    url = f"http://{host_port}"
    wait_for_http(f"{url}/ping", name, timeout=60)
    return url


@pytest.fixture(scope="module")
def container(image: str, project: Path) -> Iterator[tuple[str, str]]:
    """A running serving container: (name, base URL)."""
    name = unique_name("template-test-serve")
    try:
        yield name, start(image, project, name)
    finally:
        remove("container", [name])


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """(status, content type, body) of one HTTP request, errors included."""
    call = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def assert_same_predictions(served: list[Any], expected: list[Any]) -> None:
    assert len(served) == len(expected)
    if all(isinstance(value, str) for value in expected):
        assert served == expected
    else:
        assert [float(value) for value in served] == pytest.approx(expected, rel=1e-9)


def test_image_adds_at_most_300_mb_to_its_base(image: str) -> None:
    base, served = image_size(base_image()), image_size(image)
    added = served - base
    assert added <= MAX_ADDED_BYTES, (
        f"{image} is {served / 1e6:.0f} MB on a {base / 1e6:.0f} MB base: "
        f"adds {added / 1e6:.0f} MB, budget {MAX_ADDED_BYTES / 1e6:.0f} MB"
    )


def test_ping_answers_with_the_mounted_model(
    container: tuple[str, str], expected: dict[str, Any]
) -> None:
    status, _, body = request(f"{container[1]}/ping")
    assert status == 200
    assert json.loads(body)["model_version"] == expected["version"]


def test_json_invocations_match_the_model_in_process(
    container: tuple[str, str], expected: dict[str, Any]
) -> None:
    status, content_type, body = request(
        f"{container[1]}/invocations",
        json.dumps({"instances": expected["records"]}).encode(),
        {"Content-Type": "application/json", "X-API-Key": API_KEY},
    )
    assert status == 200, body
    assert content_type.startswith("application/json")
    assert_same_predictions(json.loads(body)["predictions"], expected["predictions"])


def test_csv_invocations_match_the_model_in_process(
    container: tuple[str, str], expected: dict[str, Any]
) -> None:
    status, content_type, body = request(
        f"{container[1]}/invocations",
        expected["csv"].encode(),
        {"Content-Type": "text/csv", "Accept": "text/csv", "X-API-Key": API_KEY},
    )
    assert status == 200, body
    assert content_type.startswith("text/csv")
    served = [row[0] for row in csv.reader(io.StringIO(body.decode())) if row]
    assert_same_predictions(served, expected["predictions"])


def test_invocations_refuse_a_missing_api_key(
    container: tuple[str, str], expected: dict[str, Any]
) -> None:
    status, _, body = request(
        f"{container[1]}/invocations",
        json.dumps({"instances": expected["records"][:1]}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 401
    assert json.loads(body)["error"]["code"] == "unauthorized"


def test_server_runs_as_an_unprivileged_user(container: tuple[str, str]) -> None:
    status = docker("exec", container[0], "cat", "/proc/1/status").stdout
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids, status
    assert "0" not in uids, f"the server runs with uids {uids}"


def wait_healthy(name: str) -> dict[str, Any]:
    """The container's health once its HEALTHCHECK passes; fails the test if it does not."""
    deadline = time.monotonic() + 60
    while True:
        health = json.loads(docker("inspect", "-f", "{{json .State.Health}}", name).stdout)
        if health["Status"] == "healthy":
            break
        if health["Status"] == "unhealthy" or time.monotonic() > deadline:
            pytest.fail(f"health check: {health['Status']}, last results {health['Log'][-2:]}")
        time.sleep(0.5)
    assert health["Log"][-1]["ExitCode"] == 0
    return health


def test_healthcheck_reports_healthy(container: tuple[str, str]) -> None:
    wait_healthy(container[0])


def test_an_inference_pipeline_port_is_honoured(image: str, project: Path) -> None:
    """In a SageMaker inference pipeline the container listens on SAGEMAKER_BIND_TO_PORT
    and says so with a label; its health check follows the port."""
    labels = json.loads(docker("inspect", "-f", "{{json .Config.Labels}}", image).stdout)
    assert labels.get("com.amazonaws.sagemaker.capabilities.accept-bind-to-port") == "true"
    name = unique_name("template-test-bind")
    try:
        url = start(image, project, name, 9091, "SAGEMAKER_BIND_TO_PORT=9091")
        assert request(f"{url}/ping")[0] == 200
        wait_healthy(name)
    finally:
        remove("container", [name])


def test_a_batch_transform_gets_its_parameters_and_payloads(
    image: str, project: Path, expected: dict[str, Any]
) -> None:
    """As in a SageMaker batch transform: /execution-parameters open, the job's payload
    size honoured, and a mini-batch over the service's row limit (10,000) answered in
    full without an API key (the model runs with INVOCATIONS_AUTH=iam there)."""
    name = unique_name("template-test-batch")
    env = ("SAGEMAKER_BATCH=true", "SAGEMAKER_MAX_PAYLOAD_IN_MB=20", "INVOCATIONS_AUTH=iam")
    try:
        url = start(image, project, name, 8080, "WORKERS=3", *env)
        status, _, body = request(f"{url}/execution-parameters")
        assert status == 200
        assert json.loads(body) == {
            "MaxConcurrentTransforms": 3,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": 20,
        }
        copies = 400  # 30 rows each: 12,000 rows
        rows = expected["csv"].split("\n", 1)[1]  # without the header line
        status, _, body = request(
            f"{url}/invocations",
            (rows * copies).encode(),
            {"Content-Type": "text/csv", "Accept": "text/csv"},
        )
        assert status == 200, body[:300]
        served = [row[0] for row in csv.reader(io.StringIO(body.decode())) if row]
        assert_same_predictions(served, expected["predictions"] * copies)
    finally:
        remove("container", [name])


def test_container_stops_cleanly_on_sigterm(image: str, project: Path) -> None:
    """`docker stop` (and SageMaker) send SIGTERM, then SIGKILL after a grace period."""
    name = unique_name("template-test-stop")
    try:
        start(image, project, name)
        started = time.monotonic()
        docker("stop", "--time", "30", name, timeout=60)
        elapsed = time.monotonic() - started
        exit_code = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
    finally:
        remove("container", [name])
    assert exit_code == "0"
    assert elapsed < 25, f"stopping took {elapsed:.1f} s"
