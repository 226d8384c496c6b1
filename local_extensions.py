"""Jinja filters the template needs, loaded by cookiecutter through ``_extensions``.

``check_answers`` runs the rules of ``hooks/pre_gen_project.py`` while cookiecutter
resolves the answers, before the project folder exists: a bad answer ends the
bake with one line on stderr, exit status 1, no traceback and nothing on disk.
``quoted`` writes free text as a double-quoted string that is valid TOML, YAML
and JSON, so any project name or description survives into the metadata.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from jinja2 import Environment, FileSystemBytecodeCache
from jinja2.ext import Extension

_RULES_FILE = Path(__file__).with_name("hooks") / "pre_gen_project.py"


def _rules() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_template_answer_rules", _RULES_FILE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {_RULES_FILE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_answers(answers: dict[str, object]) -> str:
    problem = _rules().first_problem(dict(answers))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(1)
    return "yes"


def quoted(value: object) -> str:
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


class TemplateExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["check_answers"] = check_answers
        environment.filters["quoted"] = quoted
        # Compiled file templates are kept between bakes (keyed by their source's
        # checksum, in a private folder under the temp directory): compiling the
        # project's files is most of a bake's cost, and they rarely change.
        environment.bytecode_cache = FileSystemBytecodeCache()
