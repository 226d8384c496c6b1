"""Bake speed: this template's defaults against a one-file template, side by side.

Runs the cookiecutter CLI the way a user does (``cookiecutter --no-input TEMPLATE -o DIR``)
on three contenders, interleaved round by round so that load on a shared machine
hits all of them alike:

- ``one-file``: a template with one rendered file and no hooks, cookiecutter's own floor;
- ``template``: this template's defaults, hooks included;
- ``template, no hooks``: the same with ``--accept-hooks no``, to isolate the hooks' cost.

Reports medians, the ratio template / one-file (of medians and the median of the
per-round ratios) and the hooks' overhead per bake. The target is a ratio of at most 1.3.

Bytecode matters as much as anything the template does: a Python process without
cached bytecode compiles every module it imports (cookiecutter pulls in rich,
requests, arrow...). ``--bytecode cached`` (the default) is a user's machine: each
module is compiled once and reused, here in a private PYTHONPYCACHEPREFIX so the
shared environment stays untouched. ``--bytecode as-installed`` sets
PYTHONDONTWRITEBYTECODE, so only bytecode shipped with the installation is used;
an environment installed by uv without ``--compile-bytecode`` ships none.

    python benchmarks/bake.py                   # 15 rounds, bytecode cached
    python benchmarks/bake.py --bytecode both --rounds 21
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BYTECODE_HELP, BYTECODE_MODES, TEMPLATE, machine, process_env

TARGET_RATIO = 1.3


def one_file_template(root: Path) -> Path:
    """The smallest real template: one variable, one rendered file, no hooks."""
    template = root / "one-file-template"
    project = template / "{{cookiecutter.project_slug}}"
    project.mkdir(parents=True)
    (template / "cookiecutter.json").write_text(
        json.dumps({"project_name": "One File", "project_slug": "one-file"}), encoding="utf-8"
    )
    (project / "README.md").write_text("# {{ cookiecutter.project_name }}\n", encoding="utf-8")
    return template


def bake_env(root: Path, bytecode: str) -> dict[str, str]:
    """Environment for the baking processes; cookiecutter leaves rendered hooks in TMPDIR."""
    env = process_env(root, bytecode)
    env["TMPDIR"] = str(root / "tmp")
    (root / "tmp").mkdir(exist_ok=True)
    return env


def cookiecutter_config(root: Path) -> Path:
    """A user config that keeps replay files and clones inside the scratch folder."""
    config = root / "cookiecutter-config.yaml"
    config.write_text(
        f"replay_dir: {root / 'replay'}\ncookiecutters_dir: {root / 'cookiecutters'}\n",
        encoding="utf-8",
    )
    return config


def bake_seconds(command: list[str], env: dict[str, str], output_root: Path) -> float:
    """Wall time of one CLI bake into a fresh folder (removed afterwards, untimed)."""
    output = Path(tempfile.mkdtemp(dir=output_root))
    started = time.perf_counter()
    subprocess.run([*command, "-o", str(output)], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(output)
    return seconds


def measure(cookiecutter: str, template: Path, rounds: int, bytecode: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-bake-") as scratch:
        root = Path(scratch)
        env = bake_env(root, bytecode)
        base = [cookiecutter, "--no-input", "--config-file", str(cookiecutter_config(root))]
        contenders = {
            "one-file": [*base, str(one_file_template(root))],
            "template": [*base, str(template)],
            "template, no hooks": [*base, "--accept-hooks", "no", str(template)],
        }
        names = list(contenders)
        for name in names:  # warm-up: file cache and (when cached) the bytecode
            bake_seconds(contenders[name], env, root)
        times: dict[str, list[float]] = {name: [] for name in names}
        for number in range(rounds):
            shift = number % len(names)  # rotate the order: no contender always runs first
            for name in names[shift:] + names[:shift]:
                times[name].append(bake_seconds(contenders[name], env, root))
    medians = {name: statistics.median(values) for name, values in times.items()}
    paired = [t / o for t, o in zip(times["template"], times["one-file"], strict=True)]
    hooks = [t - n for t, n in zip(times["template"], times["template, no hooks"], strict=True)]
    return {
        "bytecode": bytecode,
        "rounds": rounds,
        "times": times,
        "medians": medians,
        "ratio_of_medians": medians["template"] / medians["one-file"],
        "median_paired_ratio": statistics.median(paired),
        "hooks_overhead": statistics.median(hooks),
        "template_overhead": medians["template"] - medians["one-file"],
    }


def report(result: dict[str, object]) -> str:
    medians: dict[str, float] = result["medians"]  # type: ignore[assignment]
    times: dict[str, list[float]] = result["times"]  # type: ignore[assignment]
    ratio = float(result["ratio_of_medians"])  # type: ignore[arg-type]
    lines = [
        f"bytecode {result['bytecode']}, {result['rounds']} rounds, interleaved",
        "",
        "| contender | median s | min s | max s |",
        "|---|---:|---:|---:|",
    ]
    for name, median in medians.items():
        lines.append(f"| {name} | {median:.3f} | {min(times[name]):.3f} | {max(times[name]):.3f} |")
    verdict = "met" if ratio <= TARGET_RATIO else "not met"
    lines += [
        "",
        f"ratio template / one-file: {ratio:.2f} (median of per-round ratios "
        f"{result['median_paired_ratio']:.2f}); target <= {TARGET_RATIO}: {verdict}",
        f"template costs {result['template_overhead']:.3f} s more than one-file per bake, "
        f"of which hooks {result['hooks_overhead']:.3f} s",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="bakes per contender")
    parser.add_argument(
        "--bytecode", choices=(*BYTECODE_MODES, "both"), default="cached", help=BYTECODE_HELP
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="template to measure")
    parser.add_argument(
        "--cookiecutter",
        default=str(Path(sys.executable).with_name("cookiecutter")),
        help="the cookiecutter executable (default: beside this Python)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw times here")
    args = parser.parse_args()

    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    version = subprocess.run(
        [args.cookiecutter, "--version"], capture_output=True, text=True, check=True
    ).stdout.split(" from ")[0]
    print(f"{version}; template {args.template}\n")
    modes = BYTECODE_MODES if args.bytecode == "both" else (args.bytecode,)
    results = []
    for mode in modes:
        result = measure(args.cookiecutter, args.template, args.rounds, mode)
        results.append(result)
        print(report(result), end="\n\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
