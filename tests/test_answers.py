"""Answer validation: every rule rejects with one line, valid tricky answers bake verbatim."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import TEMPLATE, bake, bake_failure

BAD_ANSWERS = {
    "project_name": [("", "must not be empty"), ("two\nlines", "must be one line")],
    "project_slug": [
        ("Bad Slug", "lowercase"),
        ("my--project", "single hyphens"),
        ("9lives", "starting with a letter"),
        ("a" * 41, "at most 40"),
    ],
    "package_name": [
        ("class", "keyword"),
        ("json", "standard library"),
        ("sklearn", "dependency"),
        ("flask", "dependency"),
        ("test", "dependency"),
        ("my-package", "importable"),
        ("Pkg", "importable"),
    ],
    "description": [("one\ntwo", "must be one line")],
    "author_email": [("not-an-email", "name@domain.tld"), ("a@b", "name@domain.tld")],
    "python_version": [("3.9", "one of 3.11, 3.12, 3.13")],
    "open_source_license": [("GPL", "one of")],
    "problem_type": [("clustering", "classification, regression")],
    "dvc_remote": [("ftp", "one of")],
    "include_sagemaker": [("maybe", "yes, no")],
    "experiment_tracking": [("wandb", "none, mlflow")],
    "include_notebooks": [("maybe", "yes, no"), ("true", "yes, no")],
    "include_ui": [("streamlit", "yes, no")],
    "aws_region": [("europe", "AWS region")],
    "s3_bucket": [
        ("My_Bucket", "S3 bucket"),
        ("ab", "3-63"),
        ("192.168.1.1", "IP address"),
        ("xn--bucket", "S3 reserves"),
    ],
    "s3_prefix": [("/dvc", "leading")],
    "s3_endpoint_url": [("minio:9000", "http")],
}
NEEDS = {  # answers that make the field under test matter
    "azure_container": {"dvc_remote": "azure"},
    "gcs_bucket": {"dvc_remote": "gcs"},
    "local_remote_path": {"dvc_remote": "local"},
}
BAD_ANSWERS |= {
    "azure_container": [("Data", "Azure container"), ("a--b", "single hyphens")],
    "gcs_bucket": [("google-data", "goog"), ("A", "GCS bucket")],
    "local_remote_path": [
        (" ", "must not be empty"),
        ("two\nlines", "must be one line"),
        ("storage", "must lead out of it"),
        ("../penguin-classifier/storage", "must lead out of it"),
    ],
}
CASES = [(field, value, rule) for field, cases in BAD_ANSWERS.items() for value, rule in cases]


@pytest.mark.parametrize(
    ("field", "value", "rule"), CASES, ids=[f"{f}={v[:12]!r}" for f, v, _ in CASES]
)
def test_bad_answer_is_rejected_with_one_line(
    tmp_path: Path, field: str, value: str, rule: str
) -> None:
    status, stderr = bake_failure(tmp_path, **NEEDS.get(field, {}), **{field: value})
    assert status == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"error: invalid answer: {field}=")
    assert repr(value) in lines[0]
    assert rule in lines[0]
    assert not any(tmp_path.iterdir()), "nothing may be written"


def test_the_command_line_rejects_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            str(TEMPLATE),
            "-o",
            str(tmp_path),
            "package_name=sklearn",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    output = (result.stdout + result.stderr).strip().splitlines()
    rule = "must not shadow a dependency or tool of the project"
    assert output == [f"error: invalid answer: package_name='sklearn': {rule}"]
    assert not any(tmp_path.iterdir())


def test_the_pre_gen_hook_checks_answers_on_its_own(tmp_path: Path) -> None:
    """The hook guards paths that skip prompting, such as --replay and cruft update."""
    hook = (TEMPLATE / "hooks" / "pre_gen_project.py").read_text(encoding="utf-8")
    defaults = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    answers = {k: v for k, v in defaults.items() if not k.startswith("_")}
    answers |= {
        "project_slug": "ok-project",
        "package_name": "ok_project",
        "s3_bucket": "ok-project-data",
    }
    for package, expected in (("ok_project", 0), ("import", 1)):
        script = tmp_path / "hook.py"
        rendered = json.dumps({**answers, "package_name": package}).replace("'", "\\u0027")
        script.write_text(hook.replace("{{ cookiecutter | tojson }}", rendered), encoding="utf-8")
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=False
        )
        assert result.returncode == expected, result.stderr
        if expected:
            assert (
                result.stderr.strip()
                == "error: invalid answer: package_name='import': must not be a Python keyword"
            )


TRICKY_NAMES = [
    "Quote \"Double\" and 'single'",
    "Back\\slash \\n not a newline",
    "Braces {single} and }{ reversed",
    "Percent 100% and %(name)s",
    "Ümlaut Prédiction Модель 予測",
    "Emoji 🚀 rocket",
]


@pytest.mark.parametrize("name", TRICKY_NAMES)
def test_tricky_names_bake_verbatim(tmp_path: Path, name: str) -> None:
    description = f"About {name}: it works."
    project = bake(tmp_path, project_name=name, description=description, author_name=name)
    assert project.name.isascii()
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# {name}\n")
    assert description in readme
    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert metadata["description"] == description
    assert metadata["authors"][0]["name"] == name
    assert name in (project / "LICENSE").read_text(encoding="utf-8")
    package = project / project.name.replace("-", "_")
    compile_all = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(package)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert compile_all.returncode == 0, compile_all.stdout


def test_every_variable_can_be_set_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "default_context:\n"
        "  project_name: From Config\n"
        "  problem_type: regression\n"
        "  dvc_remote: gcs\n"
        "  gcs_bucket: config-bucket\n"
        "  include_sagemaker: 'no'\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--config-file",
            str(config),
            str(TEMPLATE),
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    project = tmp_path / "out" / "from-config"
    assert "gs://config-bucket/dvc" in (project / ".dvc" / "config").read_text(encoding="utf-8")
    assert "task: regression" in (project / "params.yaml").read_text(encoding="utf-8")
    assert not (project / "from_config" / "model" / "runner.py").exists()
