"""The examples in docs/api.md, run as written against a real server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import API_KEY, PROJECT

BLOCK = re.compile(r"```(bash|python)\n(.*?)```", re.DOTALL)
EXAMPLES = BLOCK.findall((PROJECT / "docs" / "api.md").read_text(encoding="utf-8"))


def test_the_guide_has_examples() -> None:
    assert {language for language, _ in EXAMPLES} == {"bash", "python"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("language", "code"), EXAMPLES, ids=[f"{lang}-{i}" for i, (lang, _) in enumerate(EXAMPLES)]
)
def test_example_runs_against_the_server(server: str, language: str, code: str) -> None:
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
