"""The examples in docs/api.md, run as written against a real server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import API_KEY, PROJECT, Run

BLOCK = re.compile(r"```(bash|python)\n(.*?)```", re.DOTALL)
EXAMPLES = BLOCK.findall((PROJECT / "docs" / "api.md").read_text(encoding="utf-8"))
SENDS_RECORDS = ("/predict", "/invocations")


def documented_features() -> list[str] | None:
    """The features of the first record the guide sends as JSON (``-d '{"instances": ...'``),
    in order; None if it sends none that way."""
    for _, code in EXAMPLES:
        for body in re.findall(r"-d '(\{.*?\})'", code, re.DOTALL):
            instances = json.loads(body).get("instances")
            if instances:
                return [str(name) for name in instances[0]]
    return None


def test_the_guide_has_examples() -> None:
    assert {language for language, _ in EXAMPLES} == {"bash", "python"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("language", "code"), EXAMPLES, ids=[f"{lang}-{i}" for i, (lang, _) in enumerate(EXAMPLES)]
)
def test_example_runs_against_the_server(server: str, run: Run, language: str, code: str) -> None:
    documented, features = documented_features(), run.model.spec.columns
    sends_records = any(route in code for route in SENDS_RECORDS)
    if sends_records and documented is not None and documented != features:
        pytest.skip(
            f"docs/api.md sends records with the features {', '.join(documented)} (the "
            f"sample data's); this model takes {', '.join(features)}: write the examples "
            "for your data to have them run against the server"
        )
    if language == "bash" and not shutil.which("curl"):
        pytest.skip("curl is not installed")
    command = (
        ["bash", "-euo", "pipefail", "-c", code]
        if language == "bash"
        else [sys.executable, "-c", code]
    )
    env = {**os.environ, "URL": server, "API_KEY": API_KEY}
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "the example printed nothing"
    assert "error" not in result.stdout
