"""Finish the generated project: tidy folders, record the template, start git.

Files of options that were not chosen are never rendered (their names render
empty), which can leave an empty folder behind; this hook removes those. It then
writes ``.cruft.json`` so ``cruft update`` can bring later template changes in,
and makes the project a git repository, which DVC and cruft both expect.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ABBREVIATIONS = {
    "gh:": "https://github.com/",
    "gl:": "https://gitlab.com/",
    "bb:": "https://bitbucket.org/",
}


def remove_empty_dirs(root: Path) -> None:
    for folder, _dirs, _files in sorted(os.walk(root), key=lambda item: -len(item[0])):
        path = Path(folder)
        if path != root and not any(path.iterdir()):
            path.rmdir()


def git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def template_folder(answers: dict[str, object]) -> Path:
    """The template's folder: absolute from the template's extension; else (a context
    stored before it gave one) relative to $PWD, where cookiecutter was started."""
    given = str(answers.get("__template_folder") or "")
    if given:
        return Path(given)
    folder = Path(str(answers["_repo_dir"]))
    return folder if folder.is_absolute() else Path(os.environ.get("PWD", ".")) / folder


def template_url(template: str, folder: Path) -> str:
    """Where cruft finds the template again: its URL, or the local folder it was read from."""
    for short, prefix in ABBREVIATIONS.items():
        if template.startswith(short):
            return prefix + template[len(short) :]
    if "://" in template or template.startswith("git@"):
        return template
    return str(folder)


def write_cruft_state(project: Path, answers: dict[str, object]) -> None:
    """Record template and answers the way ``cruft create`` does."""
    if "_commit" in answers or "_template" not in answers:
        return  # run by cruft (create, update), which writes .cruft.json itself
    folder = template_folder(answers)
    commit = git("rev-parse", "HEAD", cwd=folder)
    if not commit:
        return  # not a git template: `cruft link` can attach one later (README)
    url = template_url(str(answers["_template"]), folder)
    context = {
        key: value
        for key, value in answers.items()
        if not key.startswith("_") or key in ("_extensions", "_copy_without_render")
    }
    context.update({"_template": url, "_commit": commit})
    state = {
        "template": url,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
    }
    (project / ".cruft.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def init_git(project: Path) -> bool:
    """A repository of its own, unless baked into a repository that will track it
    (then True).

    A folder the enclosing repository ignores (its build/, say) gets its own: DVC
    refuses a dvc.yaml that git ignores.
    """
    if not shutil.which("git"):
        return False
    tracked_by_parent = (
        git("rev-parse", "--is-inside-work-tree", cwd=project) is not None
        and git("check-ignore", "--quiet", ".", cwd=project) is None
    )
    if not tracked_by_parent:
        git("init", "--quiet", "--initial-branch=main", cwd=project)
    return tracked_by_parent


def warn_of_a_store_git_sees(project: Path, answers: dict[str, object]) -> None:
    """A local DVC store inside the enclosing repository (a monorepo) would go into its
    next commit, data, models and all: say so."""
    if answers.get("dvc_remote") != "local":
        return
    # An absolute path stays as it is; a relative one starts from the project folder.
    store = (project / Path(str(answers["local_remote_path"])).expanduser()).resolve()
    top = git("rev-parse", "--show-toplevel", cwd=project)
    if not top or not store.is_relative_to(top):
        return
    # A path inside the store, where DVC writes (files/md5/...), so that a pattern for
    # folders ("store/") matches while the store does not exist yet.
    inside = str(store / "files")
    if git("check-ignore", "--quiet", "--no-index", inside, cwd=Path(top)) is None:
        print(
            f"warning: the DVC store {store} (local_remote_path) is inside the git "
            f"repository {top}, which would commit it: add it to that repository's "
            ".gitignore, or move it with `dvc remote modify storage url <path>`",
            file=sys.stderr,
        )


def main() -> None:
    project = Path.cwd()
    # Single quotes on purpose: tojson escapes every ' in the answers, not every ".
    answers = json.loads(r'{{ cookiecutter | tojson }}')  # fmt: skip
    remove_empty_dirs(project)
    write_cruft_state(project, answers)
    if init_git(project):
        warn_of_a_store_git_sees(project, answers)


if __name__ == "__main__":
    main()
