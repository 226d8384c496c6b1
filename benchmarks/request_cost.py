"""What one request costs inside the server process, without HTTP: the app's own work.

    python benchmarks/request_cost.py [--template DIR ...] [--rounds 5]

For each template (default: this one), bakes the defaults and trains them (`make
pipeline` in this environment). Then, round after round, one fresh process per template
builds the app as a gunicorn worker has it (JSON log line per request to /dev/null,
Prometheus in multiprocess mode, heap frozen) and calls it through WSGI: a one-row
``POST /predict`` and a bare Flask route returning a constant, thousands of times each.
Prints the medians in microseconds and bare / predict, the in-process counterpart of the
one-row ratio in ``serve_load.py``, with far less noise, so two versions of the template
compare well side by side.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import API_KEY, ONE_ROW, TEMPLATE, bake_and_train, machine, run_worker

CALLS, REPEATS, WARMUP = 5000, 5, 2000


def wsgi_caller(app: Any, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }
    statuses: list[str] = []

    def start_response(status: str, response_headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> None:
        answer = app(dict(environ, **{"wsgi.input": io.BytesIO(body)}), start_response)
        b"".join(answer)
        answer.close()

    call()
    if not statuses[-1].startswith("200"):
        raise SystemExit(f"{method} {path} answered {statuses[-1]}")
    return call


def microseconds(call: Any) -> float:
    for _ in range(WARMUP):
        call()
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(CALLS):
            call()
        runs.append((time.perf_counter() - started) / CALLS * 1e6)
    return statistics.median(runs)


def worker(project: Path) -> dict[str, float]:
    """Inside a baked project: the app as a gunicorn worker runs it, timed through WSGI."""
    import gc
    import logging

    from flask import Flask

    os.environ.update(API_KEYS=API_KEY, PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp())
    package = project.name.replace("-", "_")
    sys.path.insert(0, str(project))
    os.chdir(project)
    configure_logging = __import__(f"{package}.log", fromlist=["x"]).configure_logging
    configure_logging("INFO", "json")
    for handler in logging.getLogger().handlers:
        handler.setStream(Path(os.devnull).open("w"))  # noqa: SIM115 - as long as the process
    app = __import__(f"{package}.serve.app", fromlist=["x"]).create_app()
    bare = Flask("bare")
    bare.add_url_rule("/", "constant", lambda: {"predictions": ["Gentoo"]})
    gc.collect()
    gc.freeze()
    body = json.dumps({"instances": [ONE_ROW]}).encode()
    predict = wsgi_caller(app.wsgi_app, "POST", "/predict", body, {"X-API-Key": API_KEY})
    constant = wsgi_caller(bare.wsgi_app, "GET", "/", b"", {})
    return {"predict_us": microseconds(predict), "bare_us": microseconds(constant)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--template", type=Path, action="append", help="template to measure (repeatable)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="processes per template")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    templates = args.template or [TEMPLATE]
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    work = Path(tempfile.mkdtemp(prefix="request-cost-"))
    projects = [bake_and_train(work / str(i), t) for i, t in enumerate(templates)]
    results: list[list[dict[str, float]]] = [[] for _ in projects]
    for _ in range(args.rounds):
        for project, runs in zip(projects, results, strict=True):
            runs.append(run_worker(__file__, project))
    print(f"\n{args.rounds} processes per template, interleaved; medians\n")
    print("| template | one-row /predict µs | bare route µs | bare / predict |")
    print("| --- | ---: | ---: | ---: |")
    for template, runs in zip(templates, results, strict=True):
        predict = statistics.median(r["predict_us"] for r in runs)
        bare = statistics.median(r["bare_us"] for r in runs)
        ratio = statistics.median(r["bare_us"] / r["predict_us"] for r in runs)
        print(f"| {template} | {predict:.0f} | {bare:.0f} | {ratio:.0%} |")


if __name__ == "__main__":
    main()
