"""DVC remotes for real: push, wipe the cache and the outputs, pull, compare bytes.

The ``local`` remote is a folder; the ``s3`` remote is moto's S3 server on 127.0.0.1,
reached through the remote's ``endpointurl`` in ``.dvc/config.local`` (as a user
would point it at MinIO). Failed transfers must say why in one line and keep
every local file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .conftest import DEFAULTS, run

BUCKET = "penguin-classifier-data"  # the default s3_bucket of the default project name

OUTPUTS = [
    "data/raw/dataset.csv",
    "data/processed/clean.csv",
    "models/model.joblib",
    "models/metadata.json",
    "models/metrics.json",
]
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def digests(project: Path) -> dict[str, str]:
    return {name: hashlib.sha256((project / name).read_bytes()).hexdigest() for name in OUTPUTS}


def make(
    project: Path, target: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = ["make", "--no-print-directory", target, f"VENV={Path(sys.prefix)}"]
    if check:
        return run(*command, cwd=project, env=env)
    return subprocess.run(
        command,
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def wipe(project: Path) -> None:
    shutil.rmtree(project / ".dvc" / "cache", ignore_errors=True)
    for name in OUTPUTS:
        (project / name).unlink()


def round_trip(project: Path, env: dict[str, str] | None = None) -> None:
    before = digests(project)
    make(project, "data-push", env)
    wipe(project)
    make(project, "data-pull", env)
    assert digests(project) == before


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_local_remote_round_trip(
    tmp_path_factory: pytest.TempPathFactory, pipelined: Callable[..., Path]
) -> None:
    storage = tmp_path_factory.mktemp("storage")
    project = pipelined(dvc_remote="local", local_remote_path=str(storage))
    round_trip(project)
    assert any(storage.rglob("*")), "the remote folder holds the pushed files"


def test_default_local_remote_lies_beside_the_project(pipelined: Callable[..., Path]) -> None:
    """The default path, ``../<slug>-dvc-storage``, starts from the project folder (DVC
    resolves ``.dvc/config`` paths from ``.dvc/``): the store is the project's sibling,
    never a folder inside it that git would see."""
    assert DEFAULTS["local_remote_path"].startswith("../")
    project = pipelined(dvc_remote="local")
    config = (project / ".dvc" / "config").read_text(encoding="utf-8")
    assert f"url = ../../{project.name}-dvc-storage\n" in config
    round_trip(project)
    store = project.parent / f"{project.name}-dvc-storage"
    assert any(path.is_file() for path in store.rglob("*")), "the store holds the pushed files"
    inside = [path for path in project.rglob("*-dvc-storage") if path.is_dir()]
    assert inside == [], "no store inside the project"
    status = run("git", "status", "--porcelain", "--untracked-files=all", cwd=project).stdout
    assert "dvc-storage" not in status


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for moto's server, with its dummy credentials."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def s3_project(pipelined: Callable[..., Path], moto_s3: str) -> Path:
    """The default project (``s3`` remote), its bucket on moto's server, pipeline run."""
    project = pipelined()
    client = s3_client(moto_s3)
    client.create_bucket(Bucket=BUCKET)
    run(
        "dvc",
        "remote",
        "modify",
        "--local",
        "storage",
        "endpointurl",
        moto_s3,
        cwd=project,
    )
    return project


def test_s3_remote_round_trip_through_moto(s3_project: Path, moto_s3: str) -> None:
    round_trip(s3_project, env=AWS)
    client = s3_client(moto_s3)
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys
    assert all(key.startswith(f"{DEFAULTS['s3_prefix']}/") for key in keys)


@pytest.mark.parametrize(
    ("case", "endpoint", "expected"),
    [
        ("missing bucket", None, "bucket does not exist"),
        ("unreachable endpoint", "http://127.0.0.1:9", "Could not connect"),
    ],
)
def test_failed_push_says_why_in_one_line_and_keeps_local_files(
    s3_project: Path, moto_s3: str, case: str, endpoint: str | None, expected: str
) -> None:
    run(
        "dvc",
        "remote",
        "add",
        "--local",
        "--force",
        "elsewhere",
        "s3://never-created-bucket/dvc",
        cwd=s3_project,
    )
    run(
        "dvc",
        "remote",
        "modify",
        "--local",
        "elsewhere",
        "endpointurl",
        endpoint or moto_s3,
        cwd=s3_project,
    )
    before = digests(s3_project)
    cache = sorted(p for p in (s3_project / ".dvc" / "cache").rglob("*") if p.is_file())
    package = s3_project.name.replace("-", "_")
    result = subprocess.run(
        [sys.executable, "-m", f"{package}.sync", "push", "--remote", "elsewhere"],
        cwd=s3_project,
        env={**os.environ, **AWS},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "error: dvc push to remote 'elsewhere' (s3://never-created-bucket/dvc) failed: "
    )
    assert expected in lines[0]
    assert digests(s3_project) == before
    assert sorted(p for p in (s3_project / ".dvc" / "cache").rglob("*") if p.is_file()) == cache
