"""Baking helpers and the render matrix shared by the template's tests."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
# Generated projects run in this environment: their commands (dvc, ruff, ...) come from it.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
DEFAULTS: dict[str, Any] = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))

# Options whose combinations change what is rendered together: every combination.
INTERACTING = {
    "problem_type": ["classification", "regression"],
    "include_sagemaker": ["yes", "no"],
    "experiment_tracking": ["none", "mlflow"],
}
# Options that change one place each: rotated through the combinations above.
ROTATED = {
    "dvc_remote": ["s3", "local", "azure", "gcs", "none"],
    "open_source_license": ["MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary"],
    "python_version": ["3.11", "3.12", "3.13"],
    "include_notebooks": ["yes", "no"],
    "include_ui": ["no", "yes"],
}


def render_matrix() -> list[dict[str, str]]:
    combos = [
        dict(zip(INTERACTING, values, strict=True))
        for values in itertools.product(*INTERACTING.values())
    ]
    for index, combo in enumerate(combos):
        for option, values in ROTATED.items():
            combo[option] = values[index % len(values)]
    # The longest name MAX_NAME allows (40 characters): generated code must stay lint-clean.
    combos[-1]["project_name"] = "Quarterly Demand Forecasts For Retailers"
    return combos


def config_id(config: dict[str, str]) -> str:
    return "-".join(config[key] for key in (*INTERACTING, "dvc_remote"))


MATRIX = render_matrix()


def bake(output_dir: Path, **answers: str) -> Path:
    """Render the template in-process (as `cookiecutter --no-input` would)."""
    return bake_from(TEMPLATE, output_dir, **answers)


def bake_from(template: Path, output_dir: Path, **answers: str) -> Path:
    context = {"no_input": True, "extra_context": answers, "output_dir": str(output_dir)}
    return Path(cookiecutter(str(template), **context))


def bake_failure(output_dir: Path, **answers: str) -> tuple[int, str]:
    """Bake expecting a rejection; returns the exit status and what went to stderr."""
    stderr = StringIO()
    with redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        bake(output_dir, **answers)
    return int(exit_info.value.code or 0), stderr.getvalue()


@pytest.fixture(scope="session", autouse=True)
def shared_mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every generated project's `make lint` runs mypy: one cache serves them all
    (about 9 s for the first project, under a second for the next)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MYPY_CACHE_DIR", str(tmp_path_factory.mktemp("mypy-cache")))
        yield


@pytest.fixture(scope="session")
def baked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every configuration of the render matrix, baked once."""
    root = tmp_path_factory.mktemp("matrix")
    projects = {}
    for config in MATRIX:
        folder = root / config_id(config)
        projects[config_id(config)] = bake(folder, **config)
    return projects


def run(
    *command: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command; unless ``check`` is false, fail the test with its output on error."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        shown = " ".join(map(str, command))
        output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        pytest.fail(f"{shown} exited {result.returncode}\n{output}")
    return result


@pytest.fixture(scope="session")
def pipelined(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``pipelined(**answers)``: a baked project whose `make pipeline` has run.

    Each answer set is baked and run once per session; every call returns a fresh
    copy (git, DVC cache and outputs included), so tests can change it freely.
    """
    originals: dict[tuple[tuple[str, str], ...], Path] = {}

    def get(**answers: str) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in originals:
            project = bake(tmp_path_factory.mktemp("pipelined"), **answers)
            run("make", "pipeline", f"VENV={Path(sys.prefix)}", cwd=project)
            originals[key] = project
        copy = tmp_path_factory.mktemp("copy") / originals[key].name
        shutil.copytree(originals[key], copy, symlinks=True)
        return copy

    return get


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    """The shared environment: the one running these tests holds every generated dependency."""
    return Path(sys.executable).parent


@pytest.fixture(scope="module")
def docker_ready() -> None:
    """Skip the module's Docker tests, with the reason, when no daemon or base image is usable."""
    from .docker_support import unavailable

    reason = unavailable()
    if reason:
        pytest.skip(f"Docker tests skipped: {reason}")
