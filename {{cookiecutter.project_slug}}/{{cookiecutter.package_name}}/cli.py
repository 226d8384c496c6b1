"""The shared shape of every command: arguments, logging, and one-line errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .config import PARAMS_FILE, Settings
from .errors import UserError
from .log import configure_logging


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose help is the module docstring, with ``--params``."""
    summary = (doc or "").strip().splitlines()[0] if doc else None
    result = argparse.ArgumentParser(prog=_prog(), description=summary)
    result.add_argument(
        "--params", type=Path, default=PARAMS_FILE, help="parameters file (default: %(default)s)"
    )
    return result


def _prog() -> str | None:
    """``python -m <module>`` for a command started that way, as the usage line shows it."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return f"python -m {spec.name}" if spec is not None else None


def run(command: Callable[[argparse.Namespace], object], args: argparse.Namespace) -> None:
    """Run ``command``; a ``UserError`` becomes one line on stderr and an exit status."""
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level, settings.log_format)
        command(args)
    except UserError as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
