"""Docker for the template's tests: is a daemon usable, which base image, build, run.

CI reaches no registry for images, so the serving image is built on a local
base image that ``.ci/docker.sh`` makes from Debian packages; set
``TEMPLATE_BASE_IMAGE`` to use another one (``python:3.11-slim-bookworm``, say).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

DEFAULT_BASE_IMAGE = "local/python:3.11-bookworm"  # what .ci/docker.sh builds
# Everything the tests create carries this label: `docker ps -af label=...` finds leftovers.
LABEL = "org.example.template-test=1"
# Debian's client has BuildKit built in; a newer client without buildx has not.
DEBIAN_CLIENT = Path("/usr/bin/docker")


def base_image() -> str:
    return os.environ.get("TEMPLATE_BASE_IMAGE", DEFAULT_BASE_IMAGE)


def client() -> tuple[list[str], dict[str, str]]:
    """The docker command and its environment (BuildKit where the client has it)."""
    if DEBIAN_CLIENT.is_file():
        return [str(DEBIAN_CLIENT)], {**os.environ, "DOCKER_BUILDKIT": "1"}
    return [shutil.which("docker") or "docker"], dict(os.environ)


def docker(
    *args: str | Path, timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one docker command; a failure fails the test with docker's own message."""
    command, env = client()
    command += [str(arg) for arg in args]
    try:
        result = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(command)}: no answer within {timeout:.0f} s")
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def unavailable() -> str | None:
    """Why the Docker tests cannot run here, or None when they can."""
    command, env = client()
    if not shutil.which(command[0]):
        return "no docker client installed (.ci/docker.sh installs Docker)"
    try:
        info = subprocess.run(
            [*command, "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "the Docker daemon did not answer `docker version` within 15 s"
    if info.returncode != 0 or not info.stdout.strip():
        lines = (info.stderr or info.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit status {info.returncode}"
        return f"no usable Docker daemon ({reason}); .ci/docker.sh starts one"
    inspect = subprocess.run(
        [*command, "image", "inspect", base_image()],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if inspect.returncode != 0:
        return (
            f"base image {base_image()} not found; build it with .ci/docker.sh "
            "or set TEMPLATE_BASE_IMAGE"
        )
    return None


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def build(
    context: Path,
    dockerfile: Path,
    tag: str,
    build_args: dict[str, str],
    timeout: float = 900,
) -> float:
    """Build ``tag``; returns the seconds it took (the layer cache makes reruns quick)."""
    options: list[str] = []
    for key, value in build_args.items():
        options += ["--build-arg", f"{key}={value}"]
    started = time.monotonic()
    docker(
        "build",
        "--label",
        LABEL,
        "-f",
        dockerfile,
        "-t",
        tag,
        *options,
        context,
        timeout=timeout,
    )
    return time.monotonic() - started


def image_size(image: str) -> int:
    return int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout)


def remove(kind: str, names: Sequence[str]) -> None:
    """Best-effort clean-up: ``kind`` is "container" or "image"."""
    if names:
        docker(kind, "rm", "-f", *names, timeout=120, check=False)


def wait_for_http(url: str, container: str, timeout: float = 60) -> None:
    """Wait until ``url`` answers 200; fail early, with the logs, if the container exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        state = docker("inspect", "-f", "{{.State.Status}}", container).stdout.strip()
        if state in {"exited", "dead"} or time.monotonic() > deadline:
            logs = docker("logs", "--tail", "30", container, check=False)
            pytest.fail(
                f"{url} did not answer (container {state}) within {timeout:.0f} s:\n"
                f"{logs.stdout[-3000:]}\n{logs.stderr[-3000:]}"
            )
        time.sleep(0.3)
