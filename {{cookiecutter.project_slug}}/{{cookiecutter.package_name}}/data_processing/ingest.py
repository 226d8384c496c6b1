"""Bring the configured data source into data/raw/ (DVC stage ``ingest``).

A comma-separated CSV is copied byte for byte; Parquet or another delimiter is
converted to CSV. Either way the file is checked first: readable, not empty,
and with the target column from params.yaml.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .. import cli
from ..config import Params, load_params
from ..files import atomic_path, read_header, read_table, require_columns, write_table

RAW_FILE = Path("data/raw/dataset.csv")

log = logging.getLogger(__name__)


def ingest(params: Params, destination: Path = RAW_FILE) -> Path:
    source, target = params.data.source, params.data.target
    if source.suffix.lower() == ".csv" and params.data.delimiter == ",":
        columns = read_header(source)
        require_columns(source, columns, [target], "target")
        with atomic_path(destination) as tmp:
            shutil.copyfile(source, tmp)
        log.info("ingested %s: %d columns, copied -> %s", source, len(columns), destination)
    else:
        frame = read_table(source, params.data.delimiter)
        require_columns(source, list(frame.columns), [target], "target")
        write_table(frame, destination)
        log.info(
            "ingested %s: %d rows, %d columns, converted -> %s", source, *frame.shape, destination
        )
    return destination


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.run(lambda a: ingest(load_params(a.params)), args)


if __name__ == "__main__":
    main()
