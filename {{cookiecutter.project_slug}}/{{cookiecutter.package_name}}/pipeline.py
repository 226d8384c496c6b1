"""Run the whole pipeline without DVC: ingest, clean, train, validate.

For places that have neither DVC nor git, such as the training service of
docker-compose.yml (``python -m {{ cookiecutter.package_name }}.pipeline``). It
reads params.yaml and the data source it names, works in a scratch folder, and
copies the model into ``--model-dir`` (default: ``MODEL_DIR``) only when every
quality gate has passed, so a model that fails a gate never replaces the one
being served. The stages are the functions ``make pipeline`` runs, not copies.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

from . import cli
from .config import Settings, load_params
from .data_processing.cleaning import clean
from .data_processing.ingest import ingest
from .files import read_table, write_table
from .model.artifact import publish
from .model.train import train
from .model.validate import validate

log = logging.getLogger(__name__)


def run_pipeline(params_file: Path, model_dir: Path, work_dir: Path) -> dict[str, Any]:
    """All four stages in ``work_dir``; the model reaches ``model_dir`` if it passes."""
    params = load_params(params_file)
    raw_file = ingest(params, work_dir / "raw.csv")
    clean_file = work_dir / "clean.csv"
    raw = read_table(raw_file, text=params.features.text_columns)
    write_table(clean(raw, params, raw_file), clean_file)
    staged = work_dir / "model"
    train(params, clean_file, staged)
    metrics = validate(
        params,
        staged,
        clean_file,
        work_dir / "reports",
        figures=False,{% if cookiecutter.experiment_tracking == "mlflow" %}
        track=True,  # an MLflow run, to MLFLOW_TRACKING_URI (compose: the mlflow service){% endif %}
    )
    publish(staged, model_dir, metrics)  # with the metrics, which the card at /model shows
    log.info("model %s passed every gate -> %s", metrics["model_version"], model_dir)
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--model-dir", type=Path, help="where the model goes (default: MODEL_DIR)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep the data, reports and staged model here (default: "
        "a temporary folder, removed afterwards)",
    )
    cli.run(_run, parser.parse_args(argv))


def _run(args: argparse.Namespace) -> None:
    model_dir = args.model_dir or Settings.from_env().model_dir
    if args.work_dir:
        run_pipeline(args.params, model_dir, args.work_dir)
        return
    with tempfile.TemporaryDirectory(prefix="pipeline-") as scratch:
        run_pipeline(args.params, model_dir, Path(scratch))


if __name__ == "__main__":
    main()
