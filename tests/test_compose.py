"""docker-compose.yml for real: `up` trains, then serves the model it trained.

Needs what tests/test_docker.py needs (a daemon and the local base image) plus a
Compose implementation: the `docker compose` plugin, or the standalone
`docker-compose` (Debian's 1.29, which .ci/docker.sh installs). Without them
the Docker tests here are skipped with the reason; the file checks still run.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import bake
from .docker_support import (
    DEBIAN_CLIENT,
    LABEL,
    base_image,
    client,
)

API_KEY = f"compose-test-{uuid.uuid4().hex}"
LABEL_KEY, LABEL_VALUE = LABEL.split("=")


def labelled(services: list[str]) -> dict[str, Any]:
    """A compose override adding the tests' label to everything the stack creates."""
    label = {LABEL_KEY: LABEL_VALUE}
    return {"services": {name: {"labels": label, "build": {"labels": label}} for name in services}}


def compose_command(tmp_path: Path) -> tuple[list[str], dict[str, str]] | None:
    """The Compose command and its environment, or None when none is installed.

    The standalone docker-compose builds through the `docker` it finds on PATH;
    Debian's client is put first there, as it has BuildKit built in.
    """
    command, env = client()
    plugin = subprocess.run(
        [*command, "compose", "version"], env=env, capture_output=True, timeout=30, check=False
    )
    if plugin.returncode == 0:
        return [*command, "compose"], env
    standalone = shutil.which("docker-compose")
    if not standalone:
        return None
    if DEBIAN_CLIENT.is_file():
        shim = tmp_path / "bin"
        shim.mkdir(exist_ok=True)
        (shim / "docker").unlink(missing_ok=True)
        (shim / "docker").symlink_to(DEBIAN_CLIENT)
        env = {**env, "PATH": f"{shim}{os.pathsep}{env.get('PATH', '')}"}
        env |= {"COMPOSE_DOCKER_CLI_BUILD": "1", "DOCKER_BUILDKIT": "1"}
    return [standalone], env


@dataclass
class Stack:
    project: Path
    command: list[str]
    env: dict[str, str]
    url: str
    mlflow_url: str | None = None

    def compose(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        files = ["-f", "docker-compose.yml", "-f", "compose.test.yml"]
        result = subprocess.run(
            [*self.command, *files, *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"compose {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout + result.stderr

    def container(self, service: str) -> dict[str, Any]:
        ids = self.compose("ps", "-q", service).split()
        command, env = client()
        inspected = subprocess.run(
            [*command, "inspect", *ids], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(inspected.stdout)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_stack(root: Path, name: str, **answers: str) -> Stack | None:
    """A baked project ready for compose, or None without Compose."""
    found = compose_command(root)
    if found is None:
        return None
    command, env = found
    project = bake(root / name, **answers)
    services = list(yaml.safe_load((project / "docker-compose.yml").read_text())["services"])
    override = yaml.safe_dump(labelled(services))
    (project / "compose.test.yml").write_text(override, encoding="utf-8")
    port, mlflow_port = free_port(), free_port()
    env = {
        **env,
        "COMPOSE_PROJECT_NAME": f"templatetest{uuid.uuid4().hex[:10]}",
        "BASE_IMAGE": base_image(),
        "API_KEYS": API_KEY,
        "PORT": str(port),
        "MLFLOW_PORT": str(mlflow_port),
    }
    mlflow_url = f"http://127.0.0.1:{mlflow_port}" if "mlflow" in services else None
    return Stack(project, command, env, f"http://127.0.0.1:{port}", mlflow_url)


def tear_down(stack: Stack) -> None:
    stack.compose(
        "down", "--volumes", "--rmi", "local", "--remove-orphans", timeout=300, check=False
    )


@pytest.fixture(scope="module")
def stack(docker_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`docker compose up -d --build` with MLflow tracking (all three services), once /ping answers.

    The stack without MLflow is the same minus that service; it runs in the
    failed-gate test below.
    """
    created = new_stack(tmp_path_factory.mktemp("compose"), "up", experiment_tracking="mlflow")
    if created is None:
        pytest.skip("no Compose: neither `docker compose` nor `docker-compose` is installed")
    try:
        created.compose("up", "--detach", "--build", timeout=1500)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{created.url}/ping", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail("serve did not answer /ping:\n" + created.compose("logs")[-3000:])
                time.sleep(0.5)
        yield created
    finally:
        tear_down(created)


def sample_record(project: Path, features: list[dict[str, Any]]) -> dict[str, Any]:
    """The first complete row of the sample data, typed as the model card says."""
    names = [feature["name"] for feature in features]
    with (project / "data" / "sample" / "penguins.csv").open(newline="") as f:
        row = next(r for r in csv.DictReader(f) if all(r[n] not in ("", "NA") for n in names))
    return {
        feature["name"]: float(row[feature["name"]])
        if feature["kind"] == "numeric"
        else row[feature["name"]]
        for feature in features
    }


def moment(timestamp: str) -> datetime:
    """Docker's RFC 3339 time with nanoseconds, to the microsecond."""
    whole, _, fraction = timestamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction or '0')[:6]:0<6}+00:00")


def request(url: str, body: object | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", "X-API-Key": API_KEY}
    )
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --------------------------------------------------------------------------- the file


def test_no_key_is_written_into_the_compose_file(baked: dict[str, Path]) -> None:
    for project in baked.values():
        text = (project / "docker-compose.yml").read_text(encoding="utf-8")
        services = yaml.safe_load(text)["services"]
        assert services["serve"]["environment"] == {"API_KEYS": "${API_KEYS:-}"}
        assert services["serve"]["depends_on"] == {
            "train": {"condition": "service_completed_successfully"}
        }
        assert "KEY" not in json.dumps(services["train"])


def test_compose_accepts_every_rendered_file(baked: dict[str, Path], tmp_path: Path) -> None:
    """`compose config` parses and checks each configuration (no daemon needed)."""
    found = compose_command(tmp_path)
    if found is None:
        pytest.skip("no Compose: neither `docker compose` nor `docker-compose` is installed")
    command, env = found
    for name, project in baked.items():
        result = subprocess.run(
            [*command, "config", "--quiet"],
            cwd=project,
            env={**env, "API_KEYS": "x"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"
        services = set(yaml.safe_load((project / "docker-compose.yml").read_text())["services"])
        tracking = "mlflow" in name.split("-")
        assert services == ({"mlflow", "train", "serve"} if tracking else {"train", "serve"})


# --------------------------------------------------------------------------- the stack


def test_up_trains_then_serves_the_new_model(stack: Stack) -> None:
    train, serve = stack.container("train"), stack.container("serve")
    assert train["State"]["Status"] == "exited"
    assert train["State"]["ExitCode"] == 0
    assert serve["State"]["Status"] == "running"
    assert moment(train["State"]["FinishedAt"]) <= moment(serve["State"]["StartedAt"])
    logs = stack.compose("logs", "--no-color", "train")
    assert "passed every gate -> /opt/ml/model" in logs
    status, card = request(f"{stack.url}/model")
    assert status == 200
    assert str(card["model_version"]) in logs  # serving what this run trained
    assert card["metrics"]["model_version"] == card["model_version"]


def test_the_stack_answers_a_prediction(stack: Stack) -> None:
    _, card = request(f"{stack.url}/model")
    record = sample_record(stack.project, card["features"])
    status, body = request(f"{stack.url}/predict", {"instances": [record]})
    assert status == 200, body
    assert body["predictions"][0] in card["classes"]
    assert body["model_version"] == card["model_version"]


def mlflow_api(stack: Stack, route: str, body: dict[str, Any]) -> dict[str, Any]:
    call = urllib.request.Request(
        f"{stack.mlflow_url}/api/2.0/mlflow/{route}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(call, timeout=30) as response:
        return json.loads(response.read())


def test_training_logs_its_run_to_the_stacks_mlflow_server(stack: Stack) -> None:
    """The train service logs to the mlflow service: the run of the model being served."""
    assert stack.mlflow_url is not None
    _, card = request(f"{stack.url}/model")
    experiments = mlflow_api(stack, "experiments/search", {"max_results": 100})["experiments"]
    experiment = next(e for e in experiments if e["name"] == stack.project.name.replace("-", "_"))
    runs = mlflow_api(stack, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})
    (run,) = runs["runs"]
    assert run["info"]["run_name"] == str(card["model_version"])
    assert run["info"]["status"] == "FINISHED"
    logged = {metric["key"]: metric["value"] for metric in run["data"]["metrics"]}
    held_out = {name: value for name, value in card["metrics"].items() if isinstance(value, float)}
    assert held_out
    assert {name: logged.get(name) for name in held_out} == pytest.approx(held_out)
    tags = {tag["key"]: tag["value"] for tag in run["data"]["tags"]}
    assert tags["quality_gates"] == "passed"
    assert tags["data_sha256"] == card["data"]["sha256"]


def test_the_served_model_is_read_only_for_the_server(stack: Stack) -> None:
    mounts = {mount["Destination"]: mount for mount in stack.container("serve")["Mounts"]}
    assert mounts["/opt/ml/model"]["RW"] is False
    assert stack.container("serve")["Config"]["User"] == "10001:10001"


def test_a_failed_gate_serves_nothing(docker_ready: None, tmp_path: Path) -> None:
    created = new_stack(tmp_path, "failing")
    if created is None:
        pytest.skip("no Compose: neither `docker compose` nor `docker-compose` is installed")
    params = created.project / "params.yaml"
    text = params.read_text(encoding="utf-8")
    params.write_text(text.replace("segment_gap: {max: 0.15}", "segment_gap: {max: -1}"))
    try:
        output = created.compose("up", "--detach", "--build", timeout=1500, check=False)
        train = created.container("train")
        assert train["State"]["ExitCode"] == 1, output[-3000:]
        logs = created.compose("logs", "--no-color", "train")
        assert "error: quality gate failed: segment_gap=" in logs
        assert created.compose("ps", "-q", "serve").strip() == "" or (
            created.container("serve")["State"]["Status"] == "created"
        )
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{created.url}/ping", timeout=2)
    finally:
        tear_down(created)
