"""What a 10,000-row batch costs inside the server process: parsing each body format and
building each answer format, without HTTP.

    python benchmarks/batch_cost.py [--rounds 5]

Bakes the defaults and trains them (`make pipeline` in this environment), then, in a
fresh process per round, times the service's own functions on the same 10,000 rows of
the clean data: ``parse_json`` (records), ``parse_csv``, ``parse_jsonlines`` and, for
comparison, JSON Lines parsed line by line as a simple implementation would
(``orjson.loads`` and ``records_to_batch``, naming each line); then the JSON answer
(``orjson.dumps``) and the JSON Lines answer (``jsonlines_response``) against one
dictionary and one ``dumps`` per record. Medians in milliseconds. ``serve_load.py``
measures the same formats over HTTP.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import bake_and_train, machine, run_worker

ROWS, REPEATS = 10_000, 15


def best_ms(call: Any) -> float:
    """Median of ``REPEATS`` timed calls after one warm-up, in milliseconds."""
    call()
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def worker(project: Path) -> dict[str, float]:
    """Inside a baked, trained project: the timings of one process."""
    import numpy as np
    import orjson
    import pandas as pd

    package = project.name.replace("-", "_")
    sys.path.insert(0, str(project))
    inputs = __import__(f"{package}.serve.inputs", fromlist=["x"])
    app = __import__(f"{package}.serve.app", fromlist=["x"])
    predictor = __import__(f"{package}.serve.predictor", fromlist=["x"])
    model = __import__(f"{package}.model.artifact", fromlist=["x"]).load_model(project / "models")
    spec = model.spec
    frame = pd.read_csv(project / "data" / "processed" / "clean.csv")
    rows = frame[spec.columns].sample(ROWS, replace=True, random_state=0).reset_index(drop=True)
    records = [
        {k: (None if pd.isna(v) else v) for k, v in r.items()}
        for r in rows.to_dict(orient="records")
    ]
    json_body = json.dumps({"instances": records}).encode()
    csv_body = rows.to_csv(index=False, header=False).encode()
    lines_body = b"".join(json.dumps(record).encode() + b"\n" for record in records)

    def lines_one_by_one() -> Any:
        lines = [line for line in lines_body.splitlines() if line.strip()]
        parsed = [inputs.load_json(line, f"lines[{i}]") for i, line in enumerate(lines)]
        return inputs.records_to_batch(parsed, spec, "lines")

    result = predictor.Predictor(model).predict(inputs.parse_json(json_body, spec, ROWS))

    def answer_per_record() -> bytes:
        predictions = np.asarray(result["predictions"]).tolist()
        if "probabilities" not in result:
            answers: Any = ({"prediction": p} for p in predictions)
        else:
            names = [str(c) for c in result["classes"]]
            answers = (
                {"prediction": p, "probabilities": dict(zip(names, row, strict=True))}
                for p, row in zip(predictions, result["probabilities"].tolist(), strict=True)
            )
        return b"".join(orjson.dumps(a, option=orjson.OPT_APPEND_NEWLINE) for a in answers)

    return {
        "parse JSON records": best_ms(lambda: inputs.parse_json(json_body, spec, ROWS)),
        "parse CSV": best_ms(lambda: inputs.parse_csv(csv_body, spec, ROWS)),
        "parse JSON Lines": best_ms(lambda: inputs.parse_jsonlines(lines_body, spec, ROWS)),
        "parse JSON Lines, line by line": best_ms(lines_one_by_one),
        "answer JSON": best_ms(lambda: orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)),
        "answer JSON Lines": best_ms(lambda: app.jsonlines_response(result)),
        "answer JSON Lines, a dumps per record": best_ms(answer_per_record),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="processes, one after another")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    project = bake_and_train(Path(tempfile.mkdtemp(prefix="batch-cost-")))
    runs = [run_worker(__file__, project) for _ in range(args.rounds)]
    print(f"\n{ROWS:,} rows, {args.rounds} processes, median of their medians\n")
    print("| step | ms |")
    print("| --- | ---: |")
    for name in runs[0]:
        print(f"| {name} | {statistics.median(run[name] for run in runs):.1f} |")


if __name__ == "__main__":
    main()
