"""Serve the model with gunicorn: ``python -m <package>.serve [serve]``.

The optional ``serve`` argument is how SageMaker starts an inference container.
The app (and the model) is built once in the gunicorn master, so a bad model or
setting stops start-up with one line, and workers share the loaded model.
Settings: HOST, PORT, WORKERS, THREADS, TIMEOUT and the rest of ``Settings``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from ..config import Settings
from ..errors import UserError
from ..log import JsonFormatter, configure_logging

log = logging.getLogger(__name__)


def gunicorn_logging(level: str) -> dict[str, Any]:
    """gunicorn's own messages as JSON lines like the app's, at the same LOG_LEVEL."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }


class QuietAccessLogger(Logger):
    """gunicorn's logger without its access line: the app logs every request itself,
    with the request id, route, status, duration and rows; a second line per request
    cost 7% to 15% of the one-row throughput in our measurements."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


class Server(BaseApplication):
    """gunicorn running an app object that already exists (no import string)."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn 25.1 and later
            # Its control socket is one path per user ($HOME/.gunicorn): a second
            # server takes it over from the first. The service has no use for it.
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        return self.application


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "threads": settings.threads,
        "timeout": settings.timeout,
        "graceful_timeout": 25,  # SageMaker sends SIGKILL 30 s after SIGTERM
        "keepalive": 5,
        "worker_tmp_dir": "/dev/shm" if Path("/dev/shm").is_dir() else None,
        "logconfig_dict": gunicorn_logging(settings.log_level),
        "logger_class": QuietAccessLogger,
        "child_exit": _child_exit,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the model over HTTP with gunicorn.")
    parser.add_argument("command", nargs="?", choices=["serve"], help="accepted for SageMaker")
    parser.add_argument(
        "--check", action="store_true", help="load the model and settings, then exit"
    )
    args = parser.parse_args(argv)
    metrics_dir = None
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level, "json")
        if not args.check and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            # Workers write metrics where the master adds them up; removed at exit.
            metrics_dir = tempfile.mkdtemp(prefix="prometheus-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        from .app import create_app

        app = create_app(settings)
    except UserError as error:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        sys.stderr.write(f"error: {error}\n")
        sys.exit(error.exit_code)
    if args.check:
        log.info("model and settings are valid")
        return
    # The model and the libraries live as long as the server: move them out of the
    # garbage collector's sight, so its full scans do not pause requests, and so the
    # forked workers keep sharing their memory pages instead of copying them.
    gc.collect()
    gc.freeze()
    options = gunicorn_options(settings)
    if metrics_dir:
        options["on_exit"] = lambda _server: shutil.rmtree(metrics_dir, ignore_errors=True)
    Server(app, options).run()


if __name__ == "__main__":
    main()
