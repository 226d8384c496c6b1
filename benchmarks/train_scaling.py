"""Training at scale: the project's `train()` against a bare scikit-learn fit, by row count.

For each problem type, a fresh project is baked and its embedded data cleaned; the
clean rows are resampled with noise (numeric columns jittered by 5% of their standard
deviation and rounded like the source; categories and missing values kept) into clean
CSV files of each size. Params switch the search off (``train.search: none``,
``train.cv_folds: 0``) and name one model family.

Time: in one process, interleaved and repeated, ``train(params, data_file, model_dir)``
(the real function: read the CSV, split, coerce, fit, describe, hash, save) against a
bare fit: ``build_pipeline(...)`` fitted on the training split that was already read and
coerced. Target: train / bare at most 1.15.

Memory: one subprocess per measurement. Peak RSS (``ru_maxrss``) minus the RSS once
the imports are done, against ``frame.memory_usage(deep=True).sum()`` of the DataFrame
read from the CSV. Target: at most 3x.

    python benchmarks/train_scaling.py
    python benchmarks/train_scaling.py --sizes 10000 100000 --families linear --repeats 5
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import TEMPLATE, machine, median

PROBLEM_TYPES = ("classification", "regression")
FAMILIES = ("linear", "hist_gradient_boosting", "random_forest")
TARGET_RATIO = 1.15
TARGET_MEMORY = 3.0
NOISE = 0.05  # share of a numeric column's standard deviation


# --------------------------------------------------------------------------- worker side
# These functions run inside a baked project (cwd and PYTHONPATH), where its package imports.


def _package(name: str) -> dict[str, Any]:
    modules = {
        key: importlib.import_module(f"{name}.{path}")
        for key, path in {
            "config": "config",
            "files": "files",
            "cleaning": "data_processing.cleaning",
            "preprocessing": "data_processing.preprocessing",
            "validation": "data_processing.validation",
            "train": "model.train",
        }.items()
    }
    return modules


def _params(pkg: dict[str, Any], family: str) -> Any:
    overrides = {"train.search": "none", "train.cv_folds": 0, "train.models": [family]}
    return pkg["config"].load_params(Path("params.yaml"), overrides=overrides)


def make_data(package: str, sizes: list[int], folder: Path, seed: int = 0) -> dict[str, int]:
    """Clean the embedded sample, resample it with noise to each size, write clean CSVs."""
    import numpy as np
    import pandas as pd

    pkg = _package(package)
    params = pkg["config"].load_params(Path("params.yaml"))
    source = params.data.source
    sample = pkg["cleaning"].clean(pkg["files"].read_table(source), params, source)
    numeric = [c for c in sample.columns if pd.api.types.is_float_dtype(sample[c])]
    rng = np.random.default_rng(seed)
    written = {}
    for size in sizes:
        frame = sample.iloc[rng.integers(0, len(sample), size)].reset_index(drop=True)
        for column in numeric:
            values = frame[column]
            whole = bool(np.array_equal(values.dropna(), values.dropna().round()))
            jitter = rng.normal(0.0, NOISE * float(sample[column].std()), size)
            frame[column] = (values + jitter).round(0 if whole else 2)
        path = folder / f"clean-{size}.csv"
        pkg["files"].write_table(frame, path)
        written[str(path)] = path.stat().st_size
    return written


def _split_and_coerce(pkg: dict[str, Any], params: Any, data_file: Path) -> tuple[Any, ...]:
    frame = pkg["files"].read_table(data_file)
    train_part, _ = pkg["train"].split_train_test(frame, params, data_file)
    spec = pkg["validation"].infer_features(train_part, params, data_file)
    return frame, spec, spec.coerce(train_part), train_part[params.data.target]


def _bare_fit(pkg: dict[str, Any], params: Any, family: str, spec: Any, x: Any, y: Any) -> None:
    estimator = pkg["train"].make_estimator(family, params)
    preprocessing = pkg["preprocessing"]
    if hasattr(preprocessing, "most_categories"):  # the pipeline train() builds, cap decided alike
        most = preprocessing.most_categories(x, spec)
        pipeline = preprocessing.build_pipeline(spec, params.preprocessing, estimator, most)
    else:  # an older template
        pipeline = preprocessing.build_pipeline(spec, params.preprocessing, estimator)
    pipeline.fit(x, y)


def time_train(package: str, family: str, data_file: Path, repeats: int) -> dict[str, Any]:
    """train() and the bare fit, interleaved in this process; seconds of each repeat."""
    pkg = _package(package)
    params = _params(pkg, family)
    _frame, spec, x, y = _split_and_coerce(pkg, params, data_file)
    del _frame
    importlib.import_module(pkg["train"].FAMILIES[family][params.data.task][0])  # not timed
    times: dict[str, list[float]] = {"train": [], "bare": []}
    scratch = Path(tempfile.mkdtemp(prefix="models-"))
    for number in range(repeats):
        order = ("train", "bare") if number % 2 == 0 else ("bare", "train")
        for contender in order:
            gc.collect()
            started = time.perf_counter()
            if contender == "train":
                pkg["train"].train(params, data_file, scratch / str(number))
            else:
                _bare_fit(pkg, params, family, spec, x, y)
            times[contender].append(time.perf_counter() - started)
        shutil.rmtree(scratch / str(number))
    shutil.rmtree(scratch)
    return times


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_memory(package: str, family: str, data_file: Path, contender: str) -> dict[str, Any]:
    """Peak RSS growth of one train() (or read + coerce + bare fit) in a fresh process."""
    pkg = _package(package)
    params = _params(pkg, family)
    importlib.import_module(pkg["train"].FAMILIES[family][params.data.task][0])
    before = _rss_bytes()
    if contender == "train":
        model_dir = Path(tempfile.mkdtemp(prefix="models-"))
        pkg["train"].train(params, data_file, model_dir)
        shutil.rmtree(model_dir)
        frame_bytes = None
    else:
        frame, spec, x, y = _split_and_coerce(pkg, params, data_file)
        frame_bytes = int(frame.memory_usage(deep=True).sum())
        _bare_fit(pkg, params, family, spec, x, y)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"before": before, "peak": peak, "frame_bytes": frame_bytes}


def worker(request: dict[str, Any]) -> Any:
    task = request.pop("task")
    if task == "make_data":
        return make_data(request["package"], request["sizes"], Path(request["folder"]))
    if task == "time":
        return time_train(
            request["package"], request["family"], Path(request["data"]), request["repeats"]
        )
    return peak_memory(
        request["package"], request["family"], Path(request["data"]), request["contender"]
    )


# --------------------------------------------------------------------------- driver side


def call_worker(project: Path, request: dict[str, Any], threads: int | None) -> Any:
    env = dict(os.environ, PYTHONPATH=str(project))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(request)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"worker {request} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bake(root: Path, template: Path, problem_type: str) -> Path:
    cookiecutter = Path(sys.executable).with_name("cookiecutter")
    output = root / problem_type
    config = root / "cookiecutter-config.yaml"
    config.write_text(f"replay_dir: {root / 'replay'}\n", encoding="utf-8")
    command = [cookiecutter, "--no-input", "--config-file", config, "-o", output, template]
    subprocess.run([*command, f"problem_type={problem_type}"], check=True, capture_output=True)
    (project,) = output.iterdir()
    return project


def measure(args: argparse.Namespace, problem_type: str, root: Path) -> list[dict[str, Any]]:
    project = bake(root, args.template, problem_type)
    package = project.name.replace("-", "_")
    data = root / f"data-{problem_type}"
    data.mkdir()
    sizes = sorted(args.sizes)
    files = call_worker(
        project,
        {"task": "make_data", "package": package, "sizes": sizes, "folder": str(data)},
        args.omp_threads,
    )
    rows = []
    for family in args.families:
        for size in sizes:
            if family == "random_forest" and size > args.max_forest_rows:
                continue
            data_file = data / f"clean-{size}.csv"
            request = {"package": package, "family": family, "data": str(data_file)}
            times = call_worker(
                project, {"task": "time", "repeats": args.repeats, **request}, args.omp_threads
            )
            memory = {
                contender: call_worker(
                    project, {"task": "memory", "contender": contender, **request}, args.omp_threads
                )
                for contender in ("train", "bare")
            }
            frame_bytes = memory["bare"]["frame_bytes"]
            row = {
                "problem_type": problem_type,
                "family": family,
                "rows": size,
                "csv_bytes": files[str(data_file)],
                "frame_bytes": frame_bytes,
                "train_s": median(times["train"]),
                "bare_s": median(times["bare"]),
                "ratio": median(
                    [t / b for t, b in zip(times["train"], times["bare"], strict=True)]
                ),
                "repeats": args.repeats,
                "train_peak_growth": memory["train"]["peak"] - memory["train"]["before"],
                "bare_peak_growth": memory["bare"]["peak"] - memory["bare"]["before"],
                "times": times,
            }
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


HEADER = (
    "| problem | family | rows | train s | bare fit s | ratio | frame MB | "
    "train peak MB (x frame) | bare peak MB |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def format_row(row: dict[str, Any]) -> str:
    mb = 1024 * 1024
    growth = row["train_peak_growth"] / row["frame_bytes"]
    return (
        f"| {row['problem_type']} | {row['family']} | {row['rows']:,} | {row['train_s']:.2f} | "
        f"{row['bare_s']:.2f} | {row['ratio']:.2f} | {row['frame_bytes'] / mb:.0f} | "
        f"{row['train_peak_growth'] / mb:.0f} ({growth:.1f}x) | "
        f"{row['bare_peak_growth'] / mb:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 300_000, 1_000_000]
    )
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument(
        "--problem-types", nargs="+", choices=PROBLEM_TYPES, default=list(PROBLEM_TYPES)
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each contender")
    parser.add_argument(
        "--omp-threads",
        type=int,
        help="OMP_NUM_THREADS for the measured processes: 1 makes hist_gradient_boosting "
        "robust to other load on a shared machine (both contenders alike)",
    )
    parser.add_argument(
        "--max-forest-rows",
        type=int,
        default=100_000,
        help="skip random_forest above this many rows (its full-depth trees grow with the data)",
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="template to bake")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    print(f"OMP_NUM_THREADS={args.omp_threads or os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print("ratio: median of per-repeat train / bare; peak: RSS growth over the imports\n")
    print(HEADER, flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as scratch:
        for problem_type in args.problem_types:
            rows += measure(args, problem_type, Path(scratch))
    worst = max(rows, key=lambda row: row["ratio"])
    # Fixed costs (estimator objects, buffers) dwarf a small frame: judge memory at the
    # largest size measured for each problem type and family.
    largest = {(row["problem_type"], row["family"]): row for row in rows}  # sizes ascend
    fattest = max(largest.values(), key=lambda row: row["train_peak_growth"] / row["frame_bytes"])
    print(
        f"\nworst ratio {worst['ratio']:.2f} ({worst['family']}, {worst['rows']:,} rows); "
        f"target <= {TARGET_RATIO}: {'met' if worst['ratio'] <= TARGET_RATIO else 'not met'}"
    )
    factor = fattest["train_peak_growth"] / fattest["frame_bytes"]
    print(
        f"largest peak at the largest size {factor:.1f}x the DataFrame ({fattest['family']}, "
        f"{fattest['rows']:,} rows); target <= {TARGET_MEMORY:.0f}x: "
        f"{'met' if factor <= TARGET_MEMORY else 'not met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
