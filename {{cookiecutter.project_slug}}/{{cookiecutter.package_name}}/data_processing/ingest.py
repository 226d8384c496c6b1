"""Bring the configured data source into data/raw/ (DVC stage ``ingest``).

A comma-separated CSV with decimal points is copied byte for byte; Parquet, another
delimiter or decimal commas (``data.delimiter: ";"``, ``data.decimal: ","``) are
converted to that form. Either way the file is checked first: readable, not empty,
and with the target column from params.yaml.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .. import cli
from ..config import Params, load_params
from ..files import (
    PARQUET_SUFFIXES,
    atomic_path,
    check_utf8,
    read_header,
    read_table,
    require_columns,
    write_table,
)

if TYPE_CHECKING:
    import pandas as pd

RAW_FILE = Path("data/raw/dataset.csv")
DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")

log = logging.getLogger(__name__)


def warn_decimal_commas(frame: pd.DataFrame, source: Path) -> None:
    """Numbers written 1,5 read as text and would train as categories: say how to fix it."""
    import pandas as pd

    for column in frame.columns:
        values = frame[column].dropna()
        if values.empty or pd.api.types.is_numeric_dtype(values):
            continue
        sample = values.astype(str).str.strip().head(1000)
        if sample.str.fullmatch(DECIMAL_COMMA).mean() >= 0.9:
            fix = (
                "store them as numbers in the file (data.decimal is for CSV files)"
                if source.suffix.lower() in PARQUET_SUFFIXES
                else "set data.decimal: ',' in params.yaml"
            )
            log.warning(
                "params: data.decimal: column %r of %s holds numbers with a decimal comma "
                "(such as %r), read as text; %s",
                column,
                source,
                sample.iloc[0],
                fix,
            )


def ingest(params: Params, destination: Path = RAW_FILE) -> Path:
    data = params.data
    source, target = data.source, data.target
    plain_csv = data.delimiter == "," and data.decimal == "."
    if source.suffix.lower() == ".csv" and plain_csv:
        columns = read_header(source)
        require_columns(source, columns, [target], "target")
        with atomic_path(destination) as tmp, tmp.open("wb") as copy:
            check_utf8(source, copy)  # bad text named here, not in the copy
        log.info("ingested %s: %d columns, copied -> %s", source, len(columns), destination)
    else:
        frame = read_table(source, data.delimiter, data.decimal, params.features.text_columns)
        require_columns(source, list(frame.columns), [target], "target")
        if data.decimal == ".":
            warn_decimal_commas(frame, source)
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
