"""scripts/build_and_push.sh, run for real with git, and with stand-ins for the AWS CLI
and Docker: Amazon ECR cannot run here (moto has no registry to log in and push to),
so `aws` and `docker` are small scripts that record their calls and answer as ECR would."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from .conftest import bake, run

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
STAND_IN = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
case "$1 $2" in
    "login --username") cat > /dev/null ;;  # the password, from stdin
    "sts get-caller-identity") echo 123456789012 ;;
    "ecr describe-images") [[ -n ${IMAGE_IN_ECR:-} ]] ;;
    "ecr get-login-password") echo password ;;
esac
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The defaults, baked and committed: images are tagged with the commit."""
    project = bake(tmp_path_factory.mktemp("scripts"))
    run(*GIT, "add", "-A", cwd=project)
    run(*GIT, "commit", "--quiet", "-m", "baked", cwd=project)
    return project


def push(project: Path, tmp_path: Path, **env: str) -> tuple[str, list[str]]:
    """Run the script for the training image; its output and the stand-ins' calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("aws", "docker"):
        tool = bin_dir / name
        tool.write_text(STAND_IN, encoding="utf-8")
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls"
    calls.write_text("", encoding="utf-8")
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CALLS": str(calls),
        "AWS_REGION": "eu-west-1",
        **env,
    }
    package = project.name.replace("-", "_")
    result = run(
        "bash", "scripts/build_and_push.sh", "demo-train", f"{package}/model/Dockerfile",
        cwd=project, env=environment,
    )  # fmt: skip
    return result.stdout.strip(), calls.read_text(encoding="utf-8").splitlines()


def test_an_image_is_built_tagged_with_the_commit_and_pushed(project: Path, tmp_path: Path) -> None:
    commit = run("git", "rev-parse", "--short=12", "HEAD", cwd=project).stdout.strip()
    image = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo-train:{commit}"
    printed, calls = push(project, tmp_path)
    assert printed == image
    assert any(call.startswith("docker build ") and f"-t {image}" in call for call in calls)
    assert f"docker push {image}" in calls


def test_the_image_of_a_commit_in_ecr_already_is_reused(project: Path, tmp_path: Path) -> None:
    """A deploy serves the image built for its training job's commit, not a rebuild
    that may have resolved newer packages."""
    printed, calls = push(project, tmp_path, IMAGE_IN_ECR="1")
    assert printed.endswith(
        ":" + run("git", "rev-parse", "--short=12", "HEAD", cwd=project).stdout.strip()
    )
    assert not [call for call in calls if call.startswith("docker")]
    _, calls = push(project, tmp_path, IMAGE_IN_ECR="1", REBUILD="1")
    assert any(call.startswith("docker push ") for call in calls)
