"""Load on the served model, side by side with a bare Flask route and `mlflow models serve`.

    python benchmarks/serve_load.py [--seconds 10] [--rounds 3] [--soak 60] [--template DIR]

Bakes the defaults, trains them (`make pipeline` in this environment), then starts on
127.0.0.1, each with 2 gunicorn-style workers: the project's service, the same with
LOG_LEVEL=WARNING (what its log line per request costs), a bare Flask route returning a
constant under the same gunicorn settings, and `mlflow models serve` on the same fitted
pipeline. wrk (1 thread, 2 connections) loads each in turn, round after round, with a
one-row request; the script prints medians and ratios as Markdown, and the workers' CPU
time per request (from /proc), the server's own share of the two cores it shares with
wrk. It also times a 10,000-row batch over HTTP against in-process ``predict`` on the
same rows, and records worker memory before and after a soak. Needs `wrk` (Debian
package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from common import API_KEY, ONE_ROW, TEMPLATE, bake_and_train, machine

BARE_APP = """
from flask import Flask
app = Flask(__name__)

@app.post("/predict")
def predict():
    return {"predictions": ["Gentoo"]}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # answering, even if with an error status
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds} s")


@contextmanager
def server(command: list[str], cwd: Path, env: dict[str, str], ready: str) -> Iterator[int]:
    # PATH leads with this interpreter's bin: mlflow models serve starts uvicorn by name.
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", **env}
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        command, cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=log, start_new_session=True
    )
    try:
        wait(ready)
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def workers(master: int) -> list[int]:
    """Worker pids of a gunicorn-style master: its children (and theirs, for mlflow)."""
    found, todo = [], [master]
    while todo:
        pid = todo.pop()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        found += [int(c) for c in children]
        todo += [int(c) for c in children]
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used (/proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def pss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE).group(1)) / 1024


def wrk(url: str, body: dict, headers: dict[str, str], seconds: int) -> dict[str, float]:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    script.write("\n".join(lines) + "\n")
    script.close()
    out = subprocess.run(
        ["wrk", "-t1", "-c2", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} error responses\n{out}")

    def latency(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50%"),
        "p99": latency("99%"),
    }


def post(url: str, data: bytes, content_type: str) -> float:
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": content_type, "X-API-Key": API_KEY}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--soak", type=int, default=60, help="seconds of load for the memory check")
    parser.add_argument("--batch-rounds", type=int, default=15, help="10,000-row batches per kind")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="template to measure")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    project = bake_and_train(work, args.template)
    package = project.name.replace("-", "_")
    sys.path.insert(0, str(project))
    import pandas as pd

    model = __import__(f"{package}.model.artifact", fromlist=["load_model"]).load_model(
        project / "models"
    )

    # The same fitted pipeline in MLflow's format, for `mlflow models serve`.
    import mlflow.sklearn

    mlflow_model = work / "mlflow-model"
    mlflow.sklearn.save_model(model.pipeline, mlflow_model, serialization_format="cloudpickle")
    (work / "bare.py").write_text(BARE_APP, encoding="utf-8")

    ports = {name: free_port() for name in ("project", "quiet", "bare", "mlflow")}
    py = sys.executable
    # name: (command, working folder, extra environment, readiness path)
    servers = {
        "project": (
            [py, "-m", f"{package}.serve"],
            project,
            {
                "PORT": str(ports["project"]),
                "API_KEYS": API_KEY,
                "WORKERS": "2",  # and the default LOG_LEVEL: a JSON line per request
            },
            "/ping",
        ),
        # The same service without its log line per request: what that line costs.
        "quiet": (
            [py, "-m", f"{package}.serve"],
            project,
            {
                "PORT": str(ports["quiet"]),
                "API_KEYS": API_KEY,
                "WORKERS": "2",
                "LOG_LEVEL": "WARNING",
            },
            "/ping",
        ),
        "bare": (
            [py, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{ports['bare']}", "bare:app"],
            work,
            {},
            "/predict",
        ),
        "mlflow": (
            [
                py,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                str(mlflow_model),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(ports["mlflow"]),
                "-w",
                "2",
            ],
            work,
            {"MLFLOW_TRACKING_URI": f"file://{work}/mlruns"},
            "/ping",
        ),
    }
    bodies = {
        "project": (
            {"instances": [ONE_ROW]},
            {"Content-Type": "application/json", "X-API-Key": API_KEY},
        ),
        "quiet": (
            {"instances": [ONE_ROW]},
            {"Content-Type": "application/json", "X-API-Key": API_KEY},
        ),
        "bare": ({"instances": [ONE_ROW]}, {"Content-Type": "application/json"}),
        "mlflow": ({"dataframe_records": [ONE_ROW]}, {"Content-Type": "application/json"}),
    }
    paths = dict.fromkeys(("project", "quiet", "bare"), "/predict") | {"mlflow": "/invocations"}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    memory: dict[str, float] = {}
    batch: dict[str, list[float]] = {
        "json": [],
        "columns": [],
        "csv": [],
        "jsonlines": [],
        "in-process": [],
    }

    with ExitStack() as stack:
        pids = {
            name: stack.enter_context(
                server(command, cwd, env, f"http://127.0.0.1:{ports[name]}{ready}")
            )
            for name, (command, cwd, env, ready) in servers.items()
        }
        for _ in range(args.rounds):
            for name in servers:
                url = f"http://127.0.0.1:{ports[name]}{paths[name]}"
                # Worker CPU per request: what the server spends, whatever wrk and the
                # scheduler do to the requests per second on a shared machine.
                busy = workers(pids[name])
                used = cpu_seconds(busy)
                result = wrk(url, *bodies[name], args.seconds)
                result["cpu_us"] = (cpu_seconds(busy) - used) / result["requests"] * 1e6
                results[name].append(result)

        # A 10,000-row batch over HTTP against in-process predict on the same rows.
        frame = pd.read_csv(project / "data" / "processed" / "clean.csv")
        rows = (
            frame[model.spec.columns]
            .sample(10_000, replace=True, random_state=0)
            .reset_index(drop=True)
        )
        records = [
            {k: (None if pd.isna(v) else v) for k, v in r.items()}
            for r in rows.to_dict(orient="records")
        ]
        json_body = json.dumps({"instances": records}).encode()
        columns = {name: [record[name] for record in records] for name in model.spec.columns}
        columns_body = json.dumps({"columns": columns}).encode()
        csv_body = rows.to_csv(index=False, header=False).encode()
        jsonlines_body = b"".join(json.dumps(record).encode() + b"\n" for record in records)
        x = model.features(rows)
        base = f"http://127.0.0.1:{ports['project']}"
        for _ in range(args.batch_rounds):
            batch["json"].append(post(f"{base}/predict", json_body, "application/json"))
            batch["columns"].append(post(f"{base}/predict", columns_body, "application/json"))
            batch["csv"].append(post(f"{base}/invocations", csv_body, "text/csv"))
            batch["jsonlines"].append(
                post(f"{base}/invocations", jsonlines_body, "application/jsonlines")
            )
            started = time.perf_counter()
            model.pipeline.predict(x)
            batch["in-process"].append(time.perf_counter() - started)

        before = [pss_mb(pid) for pid in workers(pids["project"])]
        wrk(f"{base}/predict", *bodies["project"], args.soak)
        after = [pss_mb(pid) for pid in workers(pids["project"])]
        memory = {"before": statistics.mean(before), "after": statistics.mean(after)}

    report(results, batch, memory, args)
    shutil.rmtree(work, ignore_errors=True)


def report(results: dict, batch: dict, memory: dict, args: argparse.Namespace) -> None:
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(
        f"## API under load\n\n{machine()}; `wrk -t1 -c2 -d{args.seconds}s`, "
        f"{args.rounds} rounds interleaved, medians.\n"
    )
    print("| server | requests/s | p50 ms | p99 ms | vs bare Flask | worker CPU µs/request |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, label in (
        ("bare", "bare Flask route (constant)"),
        ("project", "this project, /predict one row"),
        ("quiet", "the same, LOG_LEVEL=WARNING (no log line per request)"),
        ("mlflow", "mlflow models serve, same model"),
    ):
        rps = median(name, "rps")
        print(
            f"| {label} | {rps:.0f} | {median(name, 'p50'):.2f} | {median(name, 'p99'):.2f} "
            f"| {rps / median('bare', 'rps'):.0%} | {median(name, 'cpu_us'):.0f} |"
        )
    rows = 10_000
    inproc = rows / statistics.median(batch["in-process"])
    print(
        f"\n{args.batch_rounds} rounds, each kind in turn; the ratio is the median of "
        "per-round ratios, so a noisy moment weighs on both sides alike.\n"
    )
    print("| 10,000-row batch | rows/s | vs in-process predict |")
    print("| --- | ---: | ---: |")
    print(f"| in-process `pipeline.predict` | {inproc:,.0f} | 100% |")
    for kind, label in (
        ("json", "POST /predict, JSON records"),
        ("columns", "POST /predict, JSON columns"),
        ("csv", "POST /invocations, CSV"),
        ("jsonlines", "POST /invocations, JSON Lines"),
    ):
        rate = rows / statistics.median(batch[kind])
        ratio = statistics.median(
            local / http for local, http in zip(batch["in-process"], batch[kind], strict=True)
        )
        print(f"| {label} | {rate:,.0f} | {ratio:.0%} |")
    print(
        f"\nWorker memory (PSS, mean of 2 workers): {memory['before']:.1f} MB at start, "
        f"{memory['after']:.1f} MB after {args.soak} s of load."
    )


if __name__ == "__main__":
    main()
