"""Generated projects remember their template: `cruft check` and `cruft update` work."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .conftest import TEMPLATE, bake_from, run

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid"]


def test_cruft_update_brings_a_template_change_in(tmp_path: Path) -> None:
    # The template as it is on disk (a clone would miss uncommitted work), in a fresh repository.
    template = tmp_path / "template"
    shutil.copytree(
        TEMPLATE, template, ignore=shutil.ignore_patterns(".git", ".venv", "build", ".*_cache")
    )
    run("git", "init", "--quiet", template)
    run(*GIT, "add", "-A", cwd=template)
    run(*GIT, "commit", "--quiet", "-m", "template", cwd=template)
    project = bake_from(template, tmp_path / "out")
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    head = run("git", "rev-parse", "HEAD", cwd=template).stdout.strip()
    assert state["template"] == str(template)
    assert state["commit"] == head
    assert state["context"]["cookiecutter"]["project_name"] == "Penguin Classifier"
    run(*GIT, "add", "-A", cwd=project)
    run(*GIT, "commit", "--quiet", "-m", "generated", cwd=project)
    run("cruft", "check", cwd=project)

    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(
        readme.read_text(encoding="utf-8") + "\nA line from a newer template.\n", encoding="utf-8"
    )
    run(*GIT, "commit", "--quiet", "-am", "template: one more line", cwd=template)
    assert run("cruft", "check", cwd=project, check=False).returncode != 0

    run("cruft", "update", "--skip-apply-ask", "--allow-untracked-files", cwd=project)
    assert "A line from a newer template." in (project / "README.md").read_text(encoding="utf-8")
    updated = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert updated["commit"] == run("git", "rev-parse", "HEAD", cwd=template).stdout.strip()


def test_a_relative_template_path_is_recorded_from_any_working_folder(tmp_path: Path) -> None:
    """cookiecutter called from Python, after a chdir its $PWD does not show: the
    template is still found and recorded."""
    script = (
        "import os, sys\n"
        "from cookiecutter.main import cookiecutter\n"
        "os.chdir(sys.argv[1])\n"
        "print(cookiecutter(sys.argv[2], no_input=True, output_dir=sys.argv[3]))\n"
    )
    where = [str(TEMPLATE.parent), TEMPLATE.name, str(tmp_path)]
    done = run(sys.executable, "-c", script, *where, cwd=tmp_path)
    state = json.loads((Path(done.stdout.strip()) / ".cruft.json").read_text(encoding="utf-8"))
    assert state["template"] == str(TEMPLATE.resolve())
