"""Every configuration renders exactly the expected files, cleanly."""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .conftest import MATRIX, TEMPLATE, bake, config_id, run

ALWAYS = {
    ".dockerignore",
    ".dvc/.gitignore",
    ".dvcignore",
    ".env.example",
    ".gitignore",
    "LICENSE",
    "Makefile",
    "README.md",
    "data/README.md",
    "dvc.yaml",
    "params.yaml",
    "pyproject.toml",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/test_api.py",
    "tests/test_data_features.py",
    "tests/test_data_format.py",
    "tests/test_model_info.py",
    "tests/test_docs.py",
    ".github/dependabot.yml",
    ".pre-commit-config.yaml",
    ".github/workflows/ci.yml",
    "docs/api.md",
    "docs/dvc.md",
    "docs/deployment.md",
    "scripts/docker_smoke.sh",
    "docker-compose.yml",
    "docs/monitoring.md",
    "tests/test_monitoring.py",
    "tests/test_pipeline.py",
    "tests/test_segments.py",
}
PACKAGE = {
    "__init__.py",
    "cli.py",
    "config.py",
    "errors.py",
    "files.py",
    "log.py",
    "data_processing/__init__.py",
    "data_processing/cleaning.py",
    "data_processing/exploration.py",
    "data_processing/ingest.py",
    "data_processing/preprocessing.py",
    "data_processing/validation.py",
    "model/__init__.py",
    "model/artifact.py",
    "model/train.py",
    "model/validate.py",
    "serve/Dockerfile",
    "serve/__init__.py",
    "serve/__main__.py",
    "serve/app.py",
    "serve/auth.py",
    "serve/compiled.py",
    "serve/inputs.py",
    "serve/metrics.py",
    "serve/openapi.py",
    "serve/predictor.py",
    "serve/smoke.py",
    "Dockerfile",
    "pipeline.py",
    "monitoring/__init__.py",
    "monitoring/drift.py",
    "monitoring/prediction_log.py",
}


def expected_files(config: dict[str, str], package: str) -> set[str]:
    files = set(ALWAYS) | {f"{package}/{name}" for name in PACKAGE}
    files.add(
        "data/sample/penguins.csv"
        if config["problem_type"] == "classification"
        else "data/sample/cars.csv"
    )
    files.add(".dvc/config")
    if config["dvc_remote"] != "none":
        files.add(f"{package}/sync.py")
    if config["include_notebooks"] == "yes":
        files |= {"notebooks/exploration.ipynb", "tests/test_notebooks.py"}
    if config["include_ui"] == "yes":
        files |= {f"{package}/ui.py", "tests/test_ui.py"}
    if config["experiment_tracking"] == "mlflow":
        files |= {
            f"{package}/model/mlflow_model.py",
            f"{package}/model/registry.py",
            f"{package}/model/tracking.py",
            "docs/experiments.md",
            "tests/test_tracking.py",
        }
    if config["include_sagemaker"] == "yes":
        files |= {
            f"{package}/model/Dockerfile",
            f"{package}/model/container.py",
            f"{package}/model/runner.py",
            "docs/sagemaker.md",
            ".github/workflows/train.yml",
            ".github/workflows/deploy.yml",
            "scripts/build_and_push.sh",
            "tests/test_sagemaker_runner.py",
            "tests/test_training_container.py",
        }
    return files


def rendered_files(project: Path) -> set[str]:
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts[:1]
    }


@pytest.mark.parametrize("config", MATRIX, ids=config_id)
def test_exact_file_set(baked: dict[str, Path], config: dict[str, str]) -> None:
    project = baked[config_id(config)]
    package = project.name.replace("-", "_")
    files = rendered_files(project)
    files.discard(".cruft.json")  # present when the template is a git checkout
    assert files == expected_files(config, package)
    empty = [
        p
        for p in project.rglob("*")
        if p.is_dir() and not any(p.iterdir()) and ".git" not in p.parts
    ]
    assert not empty, f"empty folders left: {empty}"


JINJA = re.compile(r"(?<!\$)\{\{|\{%|\{#")


@pytest.mark.parametrize("config", MATRIX, ids=config_id)
def test_no_template_syntax_left(baked: dict[str, Path], config: dict[str, str]) -> None:
    project = baked[config_id(config)]
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts and path.suffix not in {".csv"}:
            text = path.read_text(encoding="utf-8")
            match = JINJA.search(text)
            assert not match, f"{path.relative_to(project)}: leftover {match.group()!r}"


@pytest.mark.parametrize("config", MATRIX, ids=config_id)
def test_config_files_parse(baked: dict[str, Path], config: dict[str, str]) -> None:
    project = baked[config_id(config)]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == project.name
    assert pyproject["project"]["requires-python"] == f">={config['python_version']}"
    extras = pyproject["project"]["optional-dependencies"]
    assert ("sagemaker" in extras) == (config["include_sagemaker"] == "yes")
    assert ("remote" in extras) == (config["dvc_remote"] in ("s3", "azure", "gcs"))
    for name in ("params.yaml", "dvc.yaml"):
        assert isinstance(yaml.safe_load((project / name).read_text(encoding="utf-8")), dict)
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    assert params["data"]["task"] == config["problem_type"]
    assert (project / params["data"]["source"]).is_file()


def test_python_is_ruff_clean(baked: dict[str, Path]) -> None:
    """One ruff run over every rendered project, each with its own pyproject settings."""
    projects = [str(p) for p in baked.values()]
    run("ruff", "check", "--no-cache", *projects)
    run("ruff", "format", "--check", "--no-cache", *projects)


def test_dockerfiles_pass_hadolint(baked: dict[str, Path]) -> None:
    dockerfiles = sorted(
        {str(p) for project in baked.values() for p in project.rglob("Dockerfile")}
    )
    assert dockerfiles
    run("hadolint", "--failure-threshold", "warning", *dockerfiles)


def test_shell_scripts_pass_shellcheck(baked: dict[str, Path]) -> None:
    """One shellcheck run over every rendered script; each must also be executable."""
    scripts = sorted(
        {
            p
            for project in baked.values()
            for p in project.rglob("*.sh")
            if ".git" not in p.relative_to(project).parts
        }
    )
    assert scripts
    assert [p for p in scripts if not os.access(p, os.X_OK)] == []
    run("shellcheck", *scripts)


@pytest.mark.parametrize(("ignored", "own_repository"), [(True, True), (False, False)])
def test_a_project_baked_inside_a_repository(
    tmp_path: Path, ignored: bool, own_repository: bool
) -> None:
    """Into a folder the enclosing repository ignores (as `make demo` bakes into build/),
    the project gets a repository of its own, or DVC refuses its git-ignored dvc.yaml;
    into a tracked folder it stays part of the enclosing repository."""
    run("git", "init", "--quiet", tmp_path)
    (tmp_path / ".gitignore").write_text("build/\n" if ignored else "", encoding="utf-8")
    project = bake(tmp_path / "build")
    top = run("git", "rev-parse", "--show-toplevel", cwd=project).stdout.strip()
    assert (Path(top) == project) is own_repository


@pytest.mark.parametrize("ignored", [False, True])
def test_a_local_store_the_enclosing_repository_would_commit_is_pointed_out(
    tmp_path: Path, ignored: bool
) -> None:
    """In a monorepo the project has no repository of its own, and the default local
    DVC store (beside the project) lies inside the enclosing one."""
    run("git", "init", "--quiet", tmp_path)
    pattern = "/projects/penguin-classifier-dvc-storage/\n" if ignored else ""
    (tmp_path / ".gitignore").write_text(pattern, encoding="utf-8")
    result = run(
        sys.executable, "-m", "cookiecutter", "--no-input", "-o", tmp_path / "projects",
        TEMPLATE, "dvc_remote=local",
    )  # fmt: skip
    warned = "(local_remote_path) is inside the git repository" in result.stderr
    assert warned is not ignored


def test_templates_served_from_the_compile_cache_render_the_same(tmp_path: Path) -> None:
    """Bakes reuse compiled templates, file names included (local_extensions.py); a bake
    from a cache another configuration filled writes what a bake compiling afresh does."""

    def bake_cli(output: Path, cache: Path, **answers: str) -> dict[str, bytes]:
        cache.mkdir(exist_ok=True)
        options = [f"{key}={value}" for key, value in answers.items()]
        run(
            sys.executable, "-m", "cookiecutter", "--no-input", "--accept-hooks", "no",
            "-o", output, TEMPLATE, *options, env={"TMPDIR": str(cache)},
        )  # fmt: skip
        return {
            str(path.relative_to(output)): path.read_bytes()
            for path in sorted(output.rglob("*"))
            if path.is_file()
        }

    regression = {"problem_type": "regression", "include_sagemaker": "no", "dvc_remote": "gcs"}
    bake_cli(tmp_path / "first", tmp_path / "shared-cache")
    assert list((tmp_path / "shared-cache").rglob("__jinja2_*.cache"))
    warm = bake_cli(tmp_path / "warm", tmp_path / "shared-cache", **regression)
    cold = bake_cli(tmp_path / "cold", tmp_path / "own-cache", **regression)
    assert warm.keys() == cold.keys()
    assert [name for name in warm if warm[name] != cold[name]] == []
