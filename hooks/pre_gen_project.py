"""Validate every answer before a single file is written.

The rules live here and run twice: in-process while cookiecutter resolves the
answers (through ``local_extensions.py``, so a bad answer stops the bake before
the project folder exists and without a traceback), and as the regular
``pre_gen_project`` hook, which also covers ``--replay`` and stored contexts.

Answers reach this file as data: the hook receives the context through Jinja's
``tojson`` filter, which escapes every quote, so no answer can break the code.
"""

from __future__ import annotations

import json
import keyword
import posixpath
import re
import sys

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "open_source_license": ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary"),
    "problem_type": ("classification", "regression"),
    "dvc_remote": ("none", "local", "s3", "azure", "gcs"),
    "include_sagemaker": ("yes", "no"),
    "experiment_tracking": ("none", "mlflow"),
    "include_notebooks": ("yes", "no"),
    "include_ui": ("yes", "no"),
}

# Import names the generated project depends on, or that its tooling uses:
# a package with one of these names would shadow it.
DEPENDENCY_NAMES = frozenset(
    {
        *("boto3", "botocore", "click", "docs", "dvc", "flask", "gunicorn", "hypothesis"),
        *("jinja2", "joblib", "matplotlib", "mlflow", "moto", "numpy", "orjson", "pandas"),
        *("prometheus_client", "pytest", "requests", "ruff", "sagemaker", "scipy", "sklearn"),
        *("test", "tests", "werkzeug", "yaml"),
        *("ipykernel", "jupyterlab", "nbclient", "nbformat", "streamlit"),
    }
)

MAX_NAME = 40  # keeps every generated line that names the package within 100 columns
SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
AZURE_CONTAINER = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
ENDPOINT_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


class AnswerError(ValueError):
    """One answer breaks one rule."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        super().__init__(f"invalid answer: {field}={value!r}: {rule}")


def _check(condition: bool, field: str, value: object, rule: str) -> None:
    if not condition:
        raise AnswerError(field, value, rule)


def check_s3_bucket(value: str) -> None:
    rule = (
        "an S3 bucket name has 3-63 characters: lowercase letters, digits, '.' "
        "and '-', starts and ends with a letter or digit, no '..', not an IP address"
    )
    _check(
        bool(S3_BUCKET.match(value)) and ".." not in value and not IPV4.match(value),
        "s3_bucket",
        value,
        rule,
    )
    reserved = ("xn--", "sthree-", "amzn-s3-demo-")
    _check(
        not value.startswith(reserved) and not value.endswith(("-s3alias", "--ol-s3")),
        "s3_bucket",
        value,
        "S3 reserves the prefixes xn--, sthree-, amzn-s3-demo- and the suffixes -s3alias, --ol-s3",
    )


def is_absolute_path(path: str) -> bool:
    """True for a path DVC takes as it is: absolute, from the home folder, or a URL.

    ``.dvc/config`` receives any other path with ``../`` in front, because DVC
    resolves a relative remote path from the ``.dvc`` folder, not the project folder.
    """
    return path[:1] in ("/", "~", "\\") or path[1:2] == ":" or "://" in path


def inside_project(path: str, slug: str) -> bool:
    """A relative path (from the project folder) that stays in the project folder."""
    if is_absolute_path(path):
        return False
    resolved = posixpath.normpath(posixpath.join(slug, path.replace("\\", "/")))
    return resolved == slug or resolved.startswith(f"{slug}/")


def validate(answers: dict[str, object]) -> None:
    """Raise ``AnswerError`` for the first answer that breaks a rule."""
    text = {key: str(value) for key, value in answers.items() if not key.startswith("_")}

    for field, allowed in CHOICES.items():
        _check(text[field] in allowed, field, text[field], f"must be one of {', '.join(allowed)}")

    for field in ("project_name", "description", "author_name"):
        value = text[field]
        _check(bool(value.strip()), field, value, "must not be empty")
        _check("\n" not in value and "\r" not in value, field, value, "must be one line")

    slug = text["project_slug"]
    _check(
        bool(SLUG.match(slug)) and len(slug) <= MAX_NAME,
        "project_slug",
        slug,
        "lowercase letters and digits in words joined by single hyphens, starting "
        f"with a letter, at most {MAX_NAME} characters (made from project_name unless "
        "given: pass project_slug=...)",
    )

    package = text["package_name"]
    _check(
        bool(PACKAGE.match(package)) and len(package) <= MAX_NAME,
        "package_name",
        package,
        "an importable name: lowercase letters, digits and '_', starting with a letter, "
        f"at most {MAX_NAME} characters (made from project_slug unless given: pass "
        "package_name=...)",
    )
    _check(
        not keyword.iskeyword(package) and not keyword.issoftkeyword(package),
        "package_name",
        package,
        "must not be a Python keyword",
    )
    _check(
        package not in sys.stdlib_module_names,
        "package_name",
        package,
        "must not shadow a module of the Python standard library",
    )
    _check(
        package not in DEPENDENCY_NAMES,
        "package_name",
        package,
        "must not shadow a dependency or tool of the project",
    )

    email = text["author_email"]
    _check(bool(EMAIL.match(email)), "author_email", email, "must look like name@domain.tld")

    remote = text["dvc_remote"]
    uses_s3 = remote == "s3" or text["include_sagemaker"] == "yes"
    if uses_s3:
        check_s3_bucket(text["s3_bucket"])
        region = text["aws_region"]
        _check(
            bool(AWS_REGION.match(region)),
            "aws_region",
            region,
            "an AWS region such as us-east-1 or eu-central-1",
        )
    if remote == "s3":
        prefix = text["s3_prefix"]
        _check(
            not prefix.startswith("/") and " " not in prefix,
            "s3_prefix",
            prefix,
            "a key prefix without a leading '/' or spaces",
        )
        endpoint = text["s3_endpoint_url"]
        _check(
            not endpoint or bool(ENDPOINT_URL.match(endpoint)),
            "s3_endpoint_url",
            endpoint,
            "empty, or an http(s):// URL",
        )
    if remote == "azure":
        container = text["azure_container"]
        _check(
            bool(AZURE_CONTAINER.match(container)),
            "azure_container",
            container,
            "an Azure container name has 3-63 characters: lowercase letters, digits "
            "and single hyphens, starting and ending with a letter or digit",
        )
    if remote == "gcs":
        bucket = text["gcs_bucket"]
        _check(
            bool(GCS_BUCKET.match(bucket))
            and not bucket.startswith("goog")
            and "google" not in bucket,
            "gcs_bucket",
            bucket,
            "a GCS bucket name has 3-63 characters: lowercase letters, digits, '-', "
            "'_' and '.', starts and ends with a letter or digit, no 'goog' prefix",
        )
    if remote == "local":
        path = text["local_remote_path"]
        _check(bool(path.strip()), "local_remote_path", path, "must not be empty")
        _check("\n" not in path and "\r" not in path, "local_remote_path", path, "must be one line")
        _check(
            not inside_project(path, slug),
            "local_remote_path",
            path,
            "a relative path starts from the project folder and must lead out of it "
            "(such as ../store): a store inside the project would be committed",
        )


def first_problem(answers: dict[str, object]) -> str | None:
    """The one-line message for the first invalid answer, or None."""
    try:
        validate(answers)
    except AnswerError as error:
        return str(error)
    except KeyError as error:
        return f"invalid answers: {error.args[0]!r} is missing"
    return None


def main() -> int:
    # Single quotes on purpose: tojson escapes every ' in the answers, not every ".
    answers = json.loads(r'{{ cookiecutter | tojson }}')  # fmt: skip
    problem = first_problem(answers)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
