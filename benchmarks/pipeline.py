"""`make pipeline` on the embedded data: total wall time and where it goes, per stage.

Each round bakes a fresh project for every problem type (post_gen makes it a git
repository), then runs ``make pipeline VENV=<venv>`` on it; problem types alternate
within a round so load on a shared machine hits both alike. DVC's output is read
line by line as it arrives, which splits the total into each stage's command (from
DVC's ``> cmd`` line to its lock-file update) and DVC's own overhead (start-up,
hashing, checks between stages). Separately, ``python -c "import <stage module>"``
is timed in the same project, which splits each stage into interpreter start plus
imports, and the work itself (the rest). Target: at most 15 s in total.

    python benchmarks/pipeline.py                       # 3 rounds, bytecode cached
    python benchmarks/pipeline.py --bytecode both --rounds 5
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BYTECODE_HELP, BYTECODE_MODES, TEMPLATE, machine, median, process_env

PROBLEM_TYPES = ("classification", "regression")
TARGET_SECONDS = 15.0
STAGE_START = re.compile(r"^Running stage '(?P<stage>[^']+)'")
COMMAND = re.compile(r"^> python -m (?P<module>\S+)")
STAGE_END = re.compile(r"^(Updating|Generating) lock file")
SEARCH = re.compile(r"\] (?P<family>\w+): \S+ [-\d.]+ \+/- [\d.]+ in (?P<seconds>[\d.]+) s")


def bake(root: Path, template: Path, problem_type: str, env: dict[str, str]) -> Path:
    cookiecutter = Path(sys.executable).with_name("cookiecutter")
    output = Path(tempfile.mkdtemp(dir=root, prefix=f"{problem_type}-"))
    config = root / "cookiecutter-config.yaml"
    config.write_text(f"replay_dir: {root / 'replay'}\n", encoding="utf-8")
    command = [cookiecutter, "--no-input", "--config-file", config, "-o", output, template]
    subprocess.run(
        [*command, f"problem_type={problem_type}"],
        env=env,
        check=True,
        capture_output=True,
    )
    (project,) = output.iterdir()
    return project


def run_pipeline(project: Path, venv: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run `make pipeline`, timestamping DVC's output lines as they arrive."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["make", "pipeline", f"VENV={venv}"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    stages: dict[str, dict[str, Any]] = {}
    search: dict[str, float] = {}
    current: dict[str, Any] | None = None
    output = []
    for line in process.stdout:
        now = time.perf_counter() - started
        output.append(line)
        if match := STAGE_START.match(line):
            current = stages.setdefault(match["stage"], {})
        elif (match := COMMAND.match(line)) and current is not None:
            current.update(module=match["module"], start=now)
        elif STAGE_END.match(line) and current is not None and "start" in current:
            current["seconds"] = now - current.pop("start")
            current = None
        elif match := SEARCH.search(line):
            search[match["family"]] = float(match["seconds"])
    if process.wait() != 0:
        sys.exit(f"make pipeline failed in {project}:\n{''.join(output[-40:])}")
    total = time.perf_counter() - started
    metrics = json.loads((project / "reports/metrics.json").read_text(encoding="utf-8"))
    metadata = json.loads((project / "models/metadata.json").read_text(encoding="utf-8"))
    return {
        "total": total,
        "stages": {name: stage["seconds"] for name, stage in stages.items()},
        "modules": {name: stage["module"] for name, stage in stages.items()},
        "search": search,
        "estimator": metadata["estimator"],
        "estimator_params": metadata["estimator_params"],
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, float)},
    }


def import_seconds(project: Path, venv: Path, env: dict[str, str], code: str) -> float:
    started = time.perf_counter()
    subprocess.run([venv / "bin/python", "-c", code], cwd=project, env=env, check=True)
    return time.perf_counter() - started


def measure(venv: Path, templates: list[Path], rounds: int, bytecode: str) -> dict[str, Any]:
    """Every (template, problem type) once per round, in an order that alternates."""
    contenders = {
        (f"{kind} ({template.name})" if len(templates) > 1 else kind): (template, kind)
        for template in templates
        for kind in PROBLEM_TYPES
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    imports: dict[str, dict[str, list[float]]] = {name: {} for name in contenders}
    first: dict[str, float] = {}
    names = list(contenders)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        root = Path(scratch)
        env = process_env(root, bytecode)
        if bytecode == "cached":  # the first run compiles and caches the bytecode
            for name, (template, kind) in contenders.items():
                project = bake(root, template, kind, env)
                first[name] = run_pipeline(project, venv, env)["total"]
        for number in range(rounds):
            order = names if number % 2 == 0 else names[::-1]
            for name in order:
                template, kind = contenders[name]
                project = bake(root, template, kind, env)
                result = run_pipeline(project, venv, env)
                runs[name].append(result)
                codes = {"(interpreter)": "pass"} | {
                    stage: f"import {module}" for stage, module in result["modules"].items()
                }
                for stage, code in codes.items():
                    seconds = import_seconds(project, venv, env, code)
                    imports[name].setdefault(stage, []).append(seconds)
    return {"bytecode": bytecode, "runs": runs, "imports": imports, "first": first}


def report(result: dict[str, Any]) -> str:
    lines = [f"bytecode {result['bytecode']}"]
    for kind, runs in result["runs"].items():
        totals = [run["total"] for run in runs]
        imports = result["imports"][kind]
        stage_sum = 0.0
        lines += [
            "",
            f"{kind}: {len(runs)} runs, total median {median(totals):.1f} s "
            f"(min {min(totals):.1f}, max {max(totals):.1f}); target <= {TARGET_SECONDS:.0f} s: "
            + ("met" if median(totals) <= TARGET_SECONDS else "not met"),
        ]
        if kind in result["first"]:
            lines.append(f"first run (compiling bytecode): {result['first'][kind]:.1f} s")
        lines += [
            "",
            "| part | median s | of which start + imports s | work s |",
            "|---|---:|---:|---:|",
        ]
        for stage in runs[0]["stages"]:
            wall = median([run["stages"][stage] for run in runs])
            start = median(imports[stage])
            stage_sum += wall
            lines.append(f"| stage {stage} | {wall:.2f} | {start:.2f} | {wall - start:.2f} |")
        dvc = median([run["total"] - sum(run["stages"].values()) for run in runs])
        lines.append(f"| dvc + make (rest of the total) | {dvc:.2f} | | |")
        lines.append(f"| python -c pass | {median(imports['(interpreter)']):.2f} | | |")
        families = runs[0]["search"]
        if families:
            searched = ", ".join(
                f"{family} {median([run['search'][family] for run in runs]):.1f} s"
                for family in families
            )
            lines.append(f"\nsearch per family (median): {searched}")
        chosen = {(run["estimator"], json.dumps(run["estimator_params"])) for run in runs}
        scores = {json.dumps(run["metrics"], sort_keys=True) for run in runs}
        lines.append(f"chosen model: {', '.join(f'{e} {p}' for e, p in sorted(chosen))}")
        lines.append(f"test metrics: {'; '.join(sorted(scores))}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per problem type")
    parser.add_argument(
        "--bytecode", choices=(*BYTECODE_MODES, "both"), default="cached", help=BYTECODE_HELP
    )
    parser.add_argument(
        "--venv",
        type=Path,
        default=Path(sys.prefix),
        help="environment with the project's dependencies (default: this Python's)",
    )
    parser.add_argument(
        "--template",
        type=Path,
        action="append",
        help="template to bake (repeat to compare templates side by side; default: this one)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    templates = args.template or [TEMPLATE]

    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}; venv {args.venv}\n")
    modes = BYTECODE_MODES if args.bytecode == "both" else (args.bytecode,)
    results = []
    for mode in modes:
        result = measure(args.venv, templates, args.rounds, mode)
        results.append(result)
        print(report(result), end="\n\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
