"""Clean the raw data (DVC stage ``clean``): types, bad values, duplicates, missing targets.

Rules come from params.yaml: ``features`` says which columns are used and how,
``cleaning.ranges`` marks values outside a valid range as missing (the imputer
in the model fills them, at training and at serving time alike).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from .. import cli
from ..config import Params, load_params
from ..errors import ConfigError, DataError
from ..files import read_table, write_table
from .ingest import RAW_FILE
from .validation import (
    as_category_strings,
    check_numeric,
    check_target,
    columns_present,
    infer_features,
    outside_range,
)

CLEAN_FILE = Path("data/processed/clean.csv")
# A larger share of duplicate rows is reported as a warning: repeated observations?
DUPLICATE_WARNING_SHARE = 0.1
# 2024-05-31, 2024-05, 2024-05-31T10:00, 31.05.2024, 05/31/2024 10:00
DATE_TEXT = re.compile(
    r"\d{4}-\d{1,2}(-\d{1,2}([ T]\d{1,2}:\d{2}.*)?)?"  # ISO 8601
    r"|\d{1,2}[./]\d{1,2}[./]\d{2,4}( \d{1,2}:\d{2}.*)?"  # day.month.year, month/day/year
)

log = logging.getLogger(__name__)


def clean(frame: pd.DataFrame, params: Params, path: Path) -> pd.DataFrame:
    """Return the cleaned frame: feature columns then the target, one row per example."""
    target = params.data.target
    # Rows repeated whole, in every column of the file: rows that differ only in a
    # column left out (an id, features.drop) are separate observations.
    repeated = frame.duplicated() if params.cleaning.drop_duplicates else None
    spec = infer_features(frame, params, path)
    check_numeric(frame, spec, params, path)
    check_target(frame, params, path)

    columns = [str(c) for c in frame.columns]
    columns_present("features.drop", params.features.drop, columns, path)
    for name in spec.columns:
        if name.startswith("Unnamed: "):  # pandas' name for a column without a header
            log.warning(
                "%s: column %r has no name in the header: row numbers of a saved index? "
                "It trains as a feature unless features.drop lists it",
                path,
                name,
            )
    dropped = [str(c) for c in frame.columns if c in params.features.drop]
    if dropped:
        log.info("not used as features (features.drop): %s", ", ".join(dropped))
    result = spec.coerce(frame)
    result[target] = _clean_target(frame[target], params)
    for name in spec.categorical:
        dates = _date_text(result[name])
        if dates is not None:
            log.warning(
                "%s: dates (such as %r), each a category of its own, so every date the model "
                "has not seen is unknown to it: derive numbers from it (year, month, age) in "
                "the data, or list it in features.drop",
                name,
                dates,
            )
            continue
        distinct = result[name].nunique()
        if distinct > max(50, len(result) // 10):
            log.warning(
                "%s: %d distinct values in %d rows, each a category of its own: an identifier, "
                "a date or numbers written as text? (features.drop, features.numeric)",
                name,
                distinct,
                len(result),
            )

    listed = set(params.features.numeric or [])
    for name in spec.numeric:
        values = result[name]
        if name not in listed and len(values) >= 50 and _distinct_whole_numbers(values):
            log.warning(
                "%s: a different whole number in every row: an identifier? It trains as a "
                "feature unless features.drop lists it",
                name,
            )

    present = columns_present("cleaning.ranges", params.cleaning.ranges, columns, path)
    for column in present:
        bounds = params.cleaning.ranges[column]
        if column not in spec.numeric:
            raise ConfigError(f"params: cleaning.ranges.{column}: not a numeric feature column")
        if len(bounds) != 2 or bounds[0] > bounds[1]:
            raise ConfigError(f"params: cleaning.ranges.{column}={bounds}: expected [min, max]")
        outside = outside_range(result[column], bounds[0], bounds[1])
        if outside.any():
            log.info("%s: %d value(s) outside %s set to missing", column, outside.sum(), bounds)
            result.loc[outside, column] = np.nan

    no_target = result[target].isna()
    if no_target.any():
        log.info("dropped %d row(s) without a target value", no_target.sum())
        result = result[~no_target]
    if repeated is not None:
        duplicated = repeated.loc[result.index]
        if duplicated.any():
            share = duplicated.mean()
            report = log.warning if share > DUPLICATE_WARNING_SHARE else log.info
            report(
                "dropped %d duplicate row(s), %.0f%% of the rows (cleaning.drop_duplicates: "
                "false keeps repeated observations)",
                duplicated.sum(),
                100 * share,
            )
            result = result[~duplicated.to_numpy()]
    if len(result) < 10:
        raise DataError(f"{path}: only {len(result)} usable rows after cleaning; need at least 10")
    return result.reset_index(drop=True)


def _date_text(values: pd.Series) -> str | None:
    """An example, where nine in ten values of a sample are written as dates."""
    sample = values.dropna().head(1000).astype(str)
    if sample.empty or sample.str.fullmatch(DATE_TEXT).mean() < 0.9:
        return None
    return str(sample.iloc[0])


def _distinct_whole_numbers(values: pd.Series) -> bool:
    return bool(
        values.notna().all() and values.is_unique and np.array_equal(values, np.round(values))
    )


def _clean_target(values: pd.Series, params: Params) -> pd.Series:
    if not params.is_classifier:
        return pd.to_numeric(values).astype("float64")
    known = values.dropna()
    if ptypes.is_float_dtype(values) and np.array_equal(known, np.round(known)):
        return values.astype("Int64").astype(object).where(values.notna(), np.nan)
    if ptypes.infer_dtype(values, skipna=True) == "string":
        # Labels read as feature text is: "Yes " is Yes, and " NA " is missing.
        text = as_category_strings(values)
        padded = (values.notna() & (values.str.strip() != values)).to_numpy()
        if padded.any():
            first = padded.nonzero()[0][0]
            log.warning(
                "target %r: %d label(s) had spaces around them, removed (%r is %r)",
                values.name,
                padded.sum(),
                values.iloc[first],
                text.iloc[first],
            )
        return text
    return values


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)

    def command(a: object) -> None:
        params = load_params(args.params)
        raw = read_table(RAW_FILE, text=params.features.text_columns)
        cleaned = clean(raw, params, RAW_FILE)
        write_table(cleaned, CLEAN_FILE)
        log.info("cleaned: %d rows, %d columns -> %s", *cleaned.shape, CLEAN_FILE)

    cli.run(command, args)


if __name__ == "__main__":
    main()
