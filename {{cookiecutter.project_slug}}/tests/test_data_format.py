"""Data format: columns, dtypes, and one clear line for every kind of bad input file."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pandas.api import types as ptypes

from {{ cookiecutter.package_name }}.config import load_params
from {{ cookiecutter.package_name }}.data_processing.cleaning import clean
from {{ cookiecutter.package_name }}.data_processing.validation import (
    as_category_strings,
    infer_features,
)
from {{ cookiecutter.package_name }}.errors import ConfigError, DataError
from {{ cookiecutter.package_name }}.files import read_table

from .conftest import PROJECT, Run, first_numeric, run_module


def test_raw_data_has_the_target_and_the_configured_features(run: Run) -> None:
    assert run.params.data.target in run.raw.columns
    spec = infer_features(run.raw, run.params, run.params.data.source)
    assert spec.columns, "no features inferred"
    assert set(spec.columns) <= set(run.raw.columns)
    assert not set(run.params.features.drop) & set(spec.columns)


def test_clean_data_types(run: Run) -> None:
    spec = run.model.spec
    schema = {f["name"]: f for f in run.model.metadata["features"]}
    for name in spec.numeric:
        assert ptypes.is_numeric_dtype(run.clean[name]), name
    for name in spec.categorical:
        values = run.clean[name].dropna().astype(object)
        if all(isinstance(v, bool) for v in values):
            # a yes/no column, read back as booleans: the model knows them as text
            categories = set(as_category_strings(run.clean[name]).dropna())
            assert categories <= {"True", "False"}, name
            assert set(schema[name]["categories"]) == categories, name
        else:
            assert all(isinstance(v, str) for v in values), name
    if run.params.is_classifier:
        assert run.clean[run.params.data.target].nunique() >= 2
    else:
        assert ptypes.is_numeric_dtype(run.clean[run.params.data.target])


def test_clean_data_has_targets_and_no_duplicates(run: Run) -> None:
    target = run.params.data.target
    assert run.clean[target].notna().all()
    if run.params.cleaning.drop_duplicates:
        assert not run.clean.duplicated().any()
    else:  # repeated observations kept: every row with a target
        assert len(run.clean) == run.raw[target].notna().sum()
    assert len(run.clean) <= len(run.raw)


# --------------------------------------------------------------------------- bad inputs
# Each file below is data.source turned into a comma-separated CSV (whatever its own
# format), with one fault; the scratch params.yaml points at it with delimiter ",".


def _write_params(folder: Path, **data: object) -> None:
    params = yaml.safe_load((folder / "params.yaml").read_text(encoding="utf-8"))
    params["data"].update({"delimiter": ",", "decimal": ".", **data})
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")


def test_spaces_around_class_labels_make_no_new_classes(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    """A spreadsheet's "Yes " and "Yes" are one class, as feature text is trimmed too."""
    target = run.params.data.target
    sample = _sample(run).dropna(subset=[target]).reset_index(drop=True)
    if not run.params.is_classifier or ptypes.infer_dtype(sample[target]) != "string":
        pytest.skip("needs a classification target of text labels")
    labels = sample[target].where(sample.index % 2 == 0, " " + sample[target] + " ")
    cleaned = clean(sample.assign(**{target: labels}), run.params, Path("padded.csv"))
    assert set(cleaned[target]) == set(sample[target])
    assert "label(s) had spaces around them, removed" in caplog.text
    marked = labels.where(sample.index % 3 != 0, " NA ")  # a marker once trimmed: missing
    cleaned = clean(sample.assign(**{target: marked}), run.params, Path("marked.csv"))
    assert "NA" not in set(cleaned[target])
    assert len(cleaned) == len(clean(sample[sample.index % 3 != 0], run.params, Path("x")))


def test_missing_value_markers_are_missing_in_files_and_in_text(tmp_path: Path) -> None:
    """Reading a file and reading category text (Parquet, the API) agree on what is missing."""
    from {{ cookiecutter.package_name }}.data_processing.validation import (
        as_category_strings,
    )

    markers = ["NA", "n/a", "?", "null", "None", "NaN", "#N/A"]
    data = tmp_path / "markers.csv"
    data.write_text("code,x\n" + "".join(f"{m},1\n" for m in [*markers, "kept"]))
    read = read_table(data)["code"]
    assert read.isna().tolist() == [True] * len(markers) + [False]
    text = as_category_strings(pd.Series([*markers, " NA ", "kept"], dtype=object))
    assert text.isna().tolist() == [True] * (len(markers) + 1) + [False]


def _sample(run: Run) -> pd.DataFrame:
    """data.source, read as the pipeline reads it (CSV with its delimiter, or Parquet),
    in one block per dtype (``run`` says why)."""
    data = run.params.data
    return read_table(PROJECT / data.source, data.delimiter, data.decimal).copy()


def _with_text_in_numeric_column(run: Run) -> pd.DataFrame:
    frame = _sample(run)
    column = first_numeric(run)
    frame[column] = frame[column].astype(object)
    frame.loc[5, column] = "12,5 mm"
    return frame


def _without_target(run: Run, path: Path) -> None:
    _sample(run).drop(columns=[run.params.data.target]).to_csv(path, index=False)


def _header_only(run: Run, path: Path) -> None:
    _sample(run).head(0).to_csv(path, index=False)


def _semicolons(run: Run, path: Path) -> None:
    _sample(run).to_csv(path, index=False, sep=";")


def _text_in_numeric(run: Run, path: Path) -> None:
    _with_text_in_numeric_column(run).to_csv(path, index=False)


def _infinity_in_numeric(run: Run, path: Path) -> None:
    frame = _sample(run)
    column = first_numeric(run)
    frame[column] = frame[column].astype("float64")
    frame.loc[5, column] = float("inf")
    frame.to_csv(path, index=False)


def _fractional_classes(run: Run, path: Path) -> None:
    sample = _sample(run)
    sample.assign(**{run.params.data.target: np.linspace(0.5, 9.5, len(sample))}).to_csv(
        path, index=False
    )


def _infinite_target(run: Run, path: Path) -> None:
    target = run.params.data.target
    frame = _sample(run).astype({target: "float64"})
    frame.loc[3, target] = float("-inf")
    frame.to_csv(path, index=False)


def _bad_target(run: Run, path: Path) -> None:
{%- if cookiecutter.problem_type == "classification" %}
    _sample(run).assign(**{run.params.data.target: "only"}).to_csv(path, index=False)
{%- else %}
    _sample(run).assign(**{run.params.data.target: "unknown"}).to_csv(path, index=False)
{%- endif %}


def _names_alike_but_for_spaces(run: Run, path: Path) -> None:
    sample = _sample(run)
    name = run.model.spec.columns[0]
    sample.assign(**{f"{name} ": sample[name]}).to_csv(path, index=False)


def _latin1_in_the_last_row(run: Run, path: Path) -> None:
    """Past what the header check reads: the copy itself must find it."""
    lines = _sample(run).to_csv(index=False).encode().split(b"\n")
    lines[-2] = lines[-2].replace(b",", b",\xe9", 1)  # a Latin-1 e-acute
    path.write_bytes(b"\n".join(lines))


def test_text_that_is_not_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    from {{ cookiecutter.package_name }}.files import check_utf8

    data = tmp_path / "export.csv"
    row = b"a,b,c\n"
    data.write_bytes(row * 200_000 + b"caf\xe9,1,2\n" + row)  # past the first MiB read
    with pytest.raises(DataError, match=r"export\.csv: not UTF-8 text on line 200001 "):
        check_utf8(data)
    split = b"x" * (2**20 - 3) + "\U0001f600".encode() + b"\xff\n\nmore\n"  # 4 bytes over a read
    data.write_bytes(split)
    with pytest.raises(DataError, match=r"export\.csv: not UTF-8 text on line 1 "):
        check_utf8(data)


BAD_INPUTS: dict[str, tuple[Callable[[Run, Path], object], str]] = {
    "missing target column": (_without_target, "target column"),
    "empty file": (lambda run, path: path.write_bytes(b""), "file is empty"),
    "header only": (_header_only, "no rows"),
    "not text": (lambda run, path: path.write_bytes(bytes(range(256)) * 4), "not UTF-8"),
    "not UTF-8 in the last row": (_latin1_in_the_last_row, "bad.csv: not UTF-8 text on line"),
    "wrong delimiter": (_semicolons, "delimiter"),
    "names alike but for spaces": (_names_alike_but_for_spaces, "once spaces around names"),
    "text in a numeric column": (_text_in_numeric, "first '12,5 mm' on line 7"),
    "infinity in a numeric column": (_infinity_in_numeric, "value(s), first inf on line 7"),
{%- if cookiecutter.problem_type == "classification" %}
    "a single class": (_bad_target, "single class"),
    "numbers for classes": (_fractional_classes, "set data.task: regression"),
{%- else %}
    "text in the target": (_bad_target, "non-numeric value"),
    "infinity in the target": (_infinite_target, "infinite value(s), first -inf on line 5"),
{%- endif %}
}


def test_a_byte_order_mark_is_read_as_excel_meant_it(run: Run, project_copy: Path) -> None:
    """Excel saves "CSV UTF-8" with a byte-order mark before the first column name."""
    _sample(run).to_csv(project_copy / "excel.csv", index=False, encoding="utf-8-sig")
    _write_params(project_copy, source="excel.csv")
    for stage in ("ingest", "cleaning"):
        module = f"{{ cookiecutter.package_name }}.data_processing.{stage}"
        result = run_module(module, cwd=project_copy)
        assert result.returncode == 0, result.stderr
    clean = pd.read_csv(project_copy / "data/processed/clean.csv")
    assert set(clean.columns) <= set(_sample(run).columns)


PACKAGE = "{{ cookiecutter.package_name }}"
INGEST = f"{PACKAGE}.data_processing.ingest"


def _float_column(run: Run) -> str:
    sample = _sample(run)
    floats = [name for name in run.model.spec.numeric if ptypes.is_float_dtype(sample[name])]
    if not floats:
        pytest.skip("no numeric feature with fractions to write with a decimal comma")
    return floats[0]


def test_decimal_commas_read_as_the_numbers_they_are(run: Run, project_copy: Path) -> None:
    """A European spreadsheet's CSV (';' between fields, 1,5 for one and a half)."""
    sample = _sample(run)
    sample.to_csv(project_copy / "plain.csv", index=False)
    sample.to_csv(project_copy / "european.csv", index=False, sep=";", decimal=",")
    _write_params(project_copy, source="european.csv", delimiter=";", decimal=",")
    result = run_module(INGEST, cwd=project_copy)
    assert result.returncode == 0, result.stderr
    raw = read_table(project_copy / "data/raw/dataset.csv")
    pd.testing.assert_frame_equal(raw, read_table(project_copy / "plain.csv"))


def test_decimal_commas_read_as_text_are_pointed_out(run: Run, project_copy: Path) -> None:
    column = _float_column(run)
    _sample(run).to_csv(project_copy / "european.csv", index=False, sep=";", decimal=",")
    _write_params(project_copy, source="european.csv", delimiter=";")  # decimal "." kept
    result = run_module(INGEST, cwd=project_copy)
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "data.decimal" in line]
    assert [line for line in warned if f"column {column!r}" in line], result.stderr
    assert all("set data.decimal: ','" in line for line in warned)


@pytest.mark.parametrize(
    ("decimal", "delimiter", "rule"),
    [(";", ";", "must be '.' or ','"), (",", ",", "must differ from data.delimiter")],
)
def test_a_decimal_mark_is_a_point_or_a_comma_unlike_the_delimiter(
    decimal: str, delimiter: str, rule: str
) -> None:
    overrides = {"data.decimal": decimal, "data.delimiter": delimiter}
    with pytest.raises(ConfigError, match=f"data.decimal={decimal!r}: {rule}"):
        load_params(PROJECT / "params.yaml", overrides=overrides)


def _logged(line: str) -> str:
    """A log line without its time (``12:00:00 WARNING module: message``)."""
    return line.split(" ", 1)[-1]


@pytest.fixture(scope="module")
def sample_warnings(run: Run, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The warnings the stages log about data.source as it is, written as bad.csv (an
    empty column, say); none for the sample data. A bad input adds one line: its error."""
    folder = tmp_path_factory.mktemp("sample-warnings")
    shutil.copyfile(PROJECT / "params.yaml", folder / "params.yaml")
    _sample(run).to_csv(folder / "bad.csv", index=False)
    _write_params(folder, source="bad.csv")
    lines: set[str] = set()
    for stage in ("ingest", "cleaning"):
        result = run_module(f"{PACKAGE}.data_processing.{stage}", cwd=folder)
        assert result.returncode == 0, result.stderr
        lines |= {_logged(line) for line in result.stderr.splitlines() if " WARNING " in line}
    return lines


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_with_one_line_and_keeps_earlier_outputs(
    run: Run, project_copy: Path, sample_warnings: set[str], case: str
) -> None:
    make_file, expected = BAD_INPUTS[case]
    source = project_copy / "bad.csv"
    make_file(run, source)
    _write_params(project_copy, source="bad.csv")
    outputs = {
        "ingest": project_copy / "data/raw/dataset.csv",
        "cleaning": project_copy / "data/processed/clean.csv",
    }
    for path in outputs.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("earlier output\n", encoding="utf-8")

    failures = []
    for stage in ("ingest", "cleaning"):
        module = f"{{ cookiecutter.package_name }}.data_processing.{stage}"
        result = run_module(module, cwd=project_copy)
        if result.returncode != 0:  # ingest checks the header; cleaning checks the values
            failures.append(result)
            break

    assert failures, f"{case}: every stage accepted the bad file"
    result = failures[0]
    lines = [
        line
        for line in result.stderr.strip().splitlines()
        if _logged(line) not in sample_warnings  # what data.source warns about as it is
    ]
    assert result.returncode == 2
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert expected in lines[0], lines[0]
    assert "bad.csv" in lines[0] or "dataset.csv" in lines[0], "the message names the file"
    assert "Traceback" not in result.stderr
    assert outputs["cleaning"].read_text(encoding="utf-8") == "earlier output\n"


def test_duplicates_are_whole_rows_of_the_file(run: Run) -> None:
    """Rows that differ only in a column left out (an id) are separate observations;
    a row repeated in every column is dropped once (cleaning.drop_duplicates), or kept."""
    sample = _sample(run).dropna(subset=[run.params.data.target]).drop_duplicates()
    sample = sample.reset_index(drop=True)
    twice = pd.concat([sample, sample.head(3)], ignore_index=True)
    with_ids = twice.assign(row_id=range(len(twice)))
    dropping, keeping = (
        dataclasses.replace(
            run.params, cleaning=dataclasses.replace(run.params.cleaning, drop_duplicates=on)
        )
        for on in (True, False)
    )
    drop = [*run.params.features.drop, "row_id"]
    params = dataclasses.replace(
        dropping, features=dataclasses.replace(run.params.features, drop=drop)
    )
    assert len(clean(with_ids, params, Path("ids.csv"))) == len(twice)
    assert len(clean(twice, dropping, Path("repeats.csv"))) == len(sample)
    assert len(clean(twice, keeping, Path("repeats.csv"))) == len(twice)


def test_a_column_without_values_is_left_out_with_a_warning(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    # without the data's own empty columns, which the warning would name too
    frame = _sample(run).dropna(axis="columns", how="all").assign(never_filled=np.nan)
    cleaned = clean(frame, run.params, Path("empty.csv"))
    assert "never_filled" not in cleaned.columns
    assert "no values in 'never_filled'; not used as features" in caplog.text


def test_a_saved_index_is_pointed_out(run: Run, caplog: pytest.LogCaptureFixture) -> None:
    """pandas' to_csv writes the row numbers as a column without a name by default."""
    saved = _sample(run).to_csv()  # index=True
    frame = pd.read_csv(io.StringIO(saved))
    clean(frame, run.params, Path("saved.csv"))
    assert "column 'Unnamed: 0' has no name in the header" in caplog.text


def test_a_number_per_row_is_pointed_out(run: Run, caplog: pytest.LogCaptureFixture) -> None:
    """A customer number read as a feature would let the model memorise rows."""
    sample = _sample(run)
    serial = sample.assign(serial_added_by_test=np.arange(len(sample)) + 100_000)
    clean(serial, run.params, Path("x"))
    assert "serial_added_by_test: a different whole number in every row" in caplog.text


@pytest.mark.parametrize("dates", [["2024-05", "2024-06"], ["31.05.2024", "01.06.2024"]])
def test_dates_read_as_categories_are_pointed_out(
    run: Run, caplog: pytest.LogCaptureFixture, dates: list[str]
) -> None:
    """Every future date would be a category the model has never seen."""
    sample = _sample(run)
    signed = sample.assign(signed_up_for_test=[dates[i % 2] for i in range(len(sample))])
    clean(signed, run.params, Path("x"))
    assert f"signed_up_for_test: dates (such as '{dates[0]}')" in caplog.text


def test_a_listed_feature_without_values_is_refused(run: Run) -> None:
    frame = _sample(run).assign(never_filled=np.nan)
    numeric = [*(run.params.features.numeric or run.model.spec.numeric), "never_filled"]
    params = dataclasses.replace(
        run.params, features=dataclasses.replace(run.params.features, numeric=numeric)
    )
    with pytest.raises(DataError, match=r"'never_filled' \(features.numeric\) has no values"):
        clean(frame, params, Path("empty.csv"))


def test_a_column_listed_as_numeric_and_categorical_is_refused(run: Run) -> None:
    column = run.model.spec.columns[0]
    params = dataclasses.replace(
        run.params,
        features=dataclasses.replace(run.params.features, numeric=[column], categorical=[column]),
    )
    expected = re.escape(f"'{column}' is listed as numeric and as categorical")
    with pytest.raises(ConfigError, match=expected):
        clean(_sample(run), params, Path("both.csv"))


@pytest.mark.parametrize("role", ["numeric", "categorical"])
def test_listing_one_column_leaves_the_others_inferred(run: Run, role: str) -> None:
    """Listing a postcode under features.categorical must not drop the other text
    columns, nor listing one number under features.numeric turn the others into text."""
    inferred = infer_features(run.raw, run.params, run.params.data.source)
    other = "categorical" if role == "numeric" else "numeric"
    if not getattr(inferred, other):
        pytest.skip(f"the data has no {other} feature to list as {role}")
    moved = getattr(inferred, other)[0]
    params = dataclasses.replace(
        run.params, features=dataclasses.replace(run.params.features, **{role: [moved]})
    )
    spec = infer_features(run.raw, params, run.params.data.source)
    order = {name: place for place, name in enumerate(run.raw.columns)}
    for names in (spec.numeric, spec.categorical):  # the file's order, as a model card has it
        assert names == sorted(names, key=order.__getitem__)
    assert sorted(spec.columns) == sorted(inferred.columns)
    assert moved in getattr(spec, role)
    for kind in ("numeric", "categorical"):
        assert set(getattr(spec, kind)) - {moved} == set(getattr(inferred, kind)) - {moved}


def test_a_column_listed_and_dropped_is_refused(run: Run) -> None:
    column = run.model.spec.columns[0]
    features = dataclasses.replace(
        run.params.features, categorical=[column], drop=[*run.params.features.drop, column]
    )
    with pytest.raises(ConfigError, match=f"'{column}' is listed in features.categorical and"):
        infer_features(run.raw, dataclasses.replace(run.params, features=features), Path("x"))


def test_a_categorical_code_keeps_its_leading_zeros_from_file_to_model(
    run: Run, tmp_path: Path
) -> None:
    """A column listed in features.categorical is read as text from every file, so
    02134 stays 02134, as it arrives at the API, instead of becoming the number 2134."""
    from {{ cookiecutter.package_name }}.model.artifact import load_model
    from {{ cookiecutter.package_name }}.model.train import train

    codes = ["02134", "02139", "10001"]
    sample = _sample(run).dropna(subset=[run.params.data.target]).reset_index(drop=True)
    sample["zip"] = [codes[i % 3] for i in range(len(sample))]
    raw_file, clean_file = tmp_path / "raw.csv", tmp_path / "clean.csv"
    sample.to_csv(raw_file, index=False)
    categorical = [*run.model.spec.categorical, "zip"]
    params = load_params(
        PROJECT / "params.yaml",
        overrides={"train.search": "none", "train.cv_folds": 3, "train.models": ["linear"]},
    )
    params = dataclasses.replace(
        params, features=dataclasses.replace(params.features, categorical=categorical)
    )
    text = params.features.categorical or ()
    clean(read_table(raw_file, text=text), params, raw_file).to_csv(clean_file, index=False)
    train(params, clean_file, tmp_path / "model")
    schema = {f["name"]: f for f in load_model(tmp_path / "model").metadata["features"]}
    assert sorted(schema["zip"]["categories"]) == codes
