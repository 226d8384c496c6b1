"""Helpers shared by the benchmark scripts: the machine's description, process environments,
a baked and trained project to serve."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
API_KEY = "bench-key-0123456789abcdef"  # pragma: allowlist secret
# One request row of the default bake's features (Palmer penguins).
ONE_ROW = {
    "island": "Biscoe",
    "bill_length_mm": 45.1,
    "bill_depth_mm": 14.5,
    "flipper_length_mm": 210,
    "body_mass_g": 4400,
    "sex": "female",
}
BYTECODE_MODES = ("cached", "as-installed")
BYTECODE_HELP = (
    "cached: every module compiled once and reused, as on a user's machine (in a private "
    "PYTHONPYCACHEPREFIX, so the environment stays untouched); as-installed: "
    "PYTHONDONTWRITEBYTECODE=1, only bytecode shipped with the installation is used "
    "(none for an environment installed by uv without --compile-bytecode)"
)


def machine() -> str:
    """Cores, CPU model (from lscpu) and Python version, for the report header."""
    model = platform.processor() or "unknown CPU"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, "
        f"load average at start {load}"
    )


def process_env(scratch: Path, bytecode: str) -> dict[str, str]:
    """Environment for measured processes: unbuffered output, the chosen bytecode mode."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if bytecode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    elif bytecode == "as-installed":
        env.pop("PYTHONPYCACHEPREFIX", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        raise ValueError(f"bytecode mode {bytecode!r}: expected one of {BYTECODE_MODES}")
    return env


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bake_and_train(work: Path, template: Path = TEMPLATE) -> Path:
    """The template's defaults, baked into ``work`` and trained in this environment."""
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(work), str(template)]
    subprocess.run(command, check=True, capture_output=True)
    project = next(work.iterdir())
    make = ["make", "pipeline", f"VENV={sys.prefix}"]
    subprocess.run(make, cwd=project, check=True, capture_output=True)
    return project


def run_worker(script: str, project: Path) -> dict[str, float]:
    """``script --worker project`` in a fresh process; the JSON on its last line of output."""
    done = subprocess.run(
        [sys.executable, script, "--worker", str(project)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
