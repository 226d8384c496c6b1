"""Jinja filters the template needs, loaded by cookiecutter through ``_extensions``.

``check_answers`` runs the rules of ``hooks/pre_gen_project.py`` while cookiecutter
resolves the answers, before the project folder exists: a bad answer ends the
bake with one line on stderr, exit status 1, no traceback and nothing on disk.
``quoted`` writes free text as a double-quoted string that is valid TOML, YAML
and JSON, so any project name or description survives into the metadata;
``template_folder`` gives the hooks this template's absolute folder.
The extension also keeps compiled templates between bakes (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from jinja2 import Environment, FileSystemBytecodeCache, Template
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


def template_folder(_answers: object) -> str:
    """The template's folder, absolute, for the post-generation hook, which runs inside
    the new project and records it in ``.cruft.json`` (a relative template path is
    relative to a working directory the hook cannot know).

    While it resolves the answers, cookiecutter has the template's folder last on
    ``sys.path`` (that is how it imports this module); this module's own folder is
    the fallback, though a process that baked another copy first holds that copy's.
    """
    folder = Path(sys.path[-1]).resolve()
    if not (folder / "cookiecutter.json").is_file():
        folder = Path(__file__).resolve().parent
    return str(folder)


def quoted(value: object) -> str:
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


class TemplateExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["check_answers"] = check_answers
        environment.filters["quoted"] = quoted
        environment.filters["template_folder"] = template_folder
        # Compiled file templates are kept between bakes (keyed by their source's
        # checksum, in a private folder under the temp directory): compiling the
        # project's files is most of a bake's cost, and they rarely change.
        environment.bytecode_cache = FileSystemBytecodeCache()
        environment.from_string = _compiled_once(environment)  # type: ignore[method-assign]


def _compiled_once(environment: Environment) -> Any:
    """``Environment.from_string`` through the bytecode cache.

    cookiecutter renders every file *name* (and each answer's default) with
    ``from_string``, which Jinja compiles afresh each time: some 120 compilations,
    a quarter of a bake. Each distinct string is compiled once and kept beside the
    file templates, keyed by the string and every setting that shapes its code.
    """
    cache = environment.bytecode_cache
    assert cache is not None
    compile_string = environment.from_string

    def from_string(
        source: Any, globals: Any = None, template_class: type[Template] | None = None
    ) -> Template:
        if not isinstance(source, str):
            return compile_string(source, globals, template_class)
        # Read on each call: the extensions are attached after this one is created.
        settings = [getattr(environment, name) for name in _CODE_SETTINGS]
        key = repr([*settings, sorted(environment.extensions)]) + "\0" + source
        bucket = cache.get_bucket(environment, key, None, source)
        if bucket.code is None:
            bucket.code = environment.compile(source)
            cache.set_bucket(bucket)
        cls = template_class or environment.template_class
        return cls.from_code(environment, bucket.code, environment.make_globals(globals))

    return from_string


# Environment attributes the compiled code of a template depends on.
_CODE_SETTINGS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "autoescape",
)
