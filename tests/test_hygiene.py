"""No secrets in any rendered project, and the pre-commit hooks run offline."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .conftest import bake, run


def test_no_secrets_in_any_rendered_project(baked: dict[str, Path]) -> None:
    for project in baked.values():
        scan = run(
            "detect-secrets",
            "scan",
            "--all-files",
            "--exclude-files",
            r"\.cruft\.json$",
            cwd=project,
        )
        assert json.loads(scan.stdout)["results"] == {}, project.name


def test_pre_commit_hooks_are_local(baked: dict[str, Path]) -> None:
    """Local hooks use the project's own tools: nothing to download at commit time."""
    for project in baked.values():
        config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
        assert [repo["repo"] for repo in config["repos"]] == ["local"]
        ids = {hook["id"] for hook in config["repos"][0]["hooks"]}
        assert {"ruff-check", "ruff-format", "detect-secrets"} <= ids


def test_pre_commit_passes_on_a_fresh_project(tmp_path: Path) -> None:
    project = bake(tmp_path)
    run("git", "add", "-A", cwd=project)
    run(
        "pre-commit",
        "run",
        "--all-files",
        cwd=project,
        env={"PRE_COMMIT_HOME": str(tmp_path / "cache")},
    )
