"""Data features: valid ranges and categories, no target leakage, a clean split."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package_name }}.model.train import (
    _stratified_positions,
    split_train_test,
)

from .conftest import Run, first_categorical


def test_numeric_features_respect_the_cleaning_ranges(run: Run) -> None:
    ranges = run.params.cleaning.ranges
    present = {column: bounds for column, bounds in ranges.items() if column in run.clean.columns}
    if not present:
        pytest.skip(
            f"cleaning.ranges names no column of {run.params.data.source.name}: set valid "
            "[min, max] ranges for your numeric columns to have them enforced"
        )
    for column, (low, high) in present.items():
        values = run.clean[column].dropna()
        assert values.between(low, high).all(), f"{column} outside [{low}, {high}]"


def test_categorical_features_have_few_known_categories(run: Run) -> None:
    schema = {f["name"]: f for f in run.model.metadata["features"]}
    for name in run.model.spec.categorical:
        categories = set(run.train[name].dropna().astype(str))
        assert categories == set(schema[name]["categories"])
        assert len(categories) <= max(50, len(run.train) // 10), f"{name} looks like an identifier"


def test_no_target_leakage(run: Run) -> None:
    target = run.params.data.target
    spec = run.model.spec
    assert target not in spec.columns
    truth = run.clean[target]
    for name in spec.categorical:
        # a feature that names the target exactly would be a copy of the answer
        mapping = run.clean.groupby(name, observed=True)[target].nunique()
        determines = (mapping == 1).all() and run.clean[name].notna().all()
        assert not (determines and run.clean[name].nunique() == truth.nunique()), (
            f"{name} copies the target"
        )
    if not run.params.is_classifier:
        for name in spec.numeric:
            correlation = run.clean[name].corr(truth)
            assert pd.isna(correlation) or abs(correlation) < 0.99, f"{name} copies the target"


def test_train_and_test_are_disjoint_and_cover_the_data(run: Run) -> None:
    train_rows, test_rows = set(run.train.index), set(run.test.index)
    assert not train_rows & test_rows
    assert train_rows | test_rows == set(run.clean.index)
    expected = round(len(run.clean) * run.params.data.test_size)
    assert abs(len(run.test) - expected) <= 1


def test_split_is_seeded_and_stratified(run: Run) -> None:
    _, again_test = split_train_test(run.clean, run.params, run.clean_file)
    assert list(again_test.index) == list(run.test.index)
    if run.params.is_classifier:
        target = run.params.data.target
        overall = run.clean[target].value_counts(normalize=True)
        held_out = run.test[target].value_counts(normalize=True)
        assert set(held_out.index) == set(overall.index)
        assert (held_out - overall).abs().max() < 0.1


def test_split_holds_out_the_rows_scikit_learn_holds_out(run: Run) -> None:
    data = run.params.data
    stratify = run.clean[data.target] if run.params.is_classifier else None
    expected = train_test_split(
        run.clean, test_size=data.test_size, random_state=data.seed, stratify=stratify
    )
    split = split_train_test(run.clean, run.params, run.clean_file)
    assert [list(part.index) for part in split] == [list(part.index) for part in expected]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("test_size", [0.2, 0.3, 0.5])
def test_stratified_split_breaks_ties_as_scikit_learn_does(seed: int, test_size: float) -> None:
    """Classes of equal size leave equal remainders, which scikit-learn settles at random."""
    classes = np.random.default_rng(seed).permutation(np.repeat([0, 1, 2, 3], [6, 6, 6, 10]))
    expected = train_test_split(
        np.arange(len(classes)), test_size=test_size, random_state=seed, stratify=classes
    )
    split = _stratified_positions(classes, math.ceil(test_size * len(classes)), seed)
    assert [part.tolist() for part in split] == [part.tolist() for part in expected]
{%- if cookiecutter.problem_type == "classification" %}


def test_a_split_that_cannot_hold_every_class_is_refused_in_one_line(run: Run) -> None:
    import re
    from dataclasses import replace

    from {{ cookiecutter.package_name }}.errors import DataError

    target = run.params.data.target
    lonely = run.clean.assign(**{target: run.clean[target].astype(object)})
    lonely.loc[lonely.index[0], target] = "only-one-row"
    with pytest.raises(DataError, match=r"'only-one-row' .* has only 1 row"):
        split_train_test(lonely, run.params, run.clean_file)

    # fewer held-out rows than classes: 0.001 of the rows, or less for big data of few classes
    test_size = 0.001
    while math.ceil(test_size * len(run.clean)) >= run.clean[target].nunique():
        test_size /= 10
    tiny = replace(run.params, data=replace(run.params.data, test_size=test_size))
    expected = re.escape(f"test_size={test_size} ") + ".* at least one row of each"
    with pytest.raises(DataError, match=expected):
        split_train_test(run.clean, tiny, run.clean_file)
{%- endif %}


def test_cleaning_reads_category_text_as_serving_does(run: Run) -> None:
    """Surrounding spaces dropped, blank text missing: the rule the API applies."""
    from {{ cookiecutter.package_name }}.data_processing.cleaning import clean

    name = first_categorical(run)
    text = run.raw[name].astype(object)
    padded = run.raw.assign(**{name: "  " + text + " "})
    padded.loc[padded.index[:3], name] = "   "
    expected = run.raw.assign(**{name: text})
    expected.loc[expected.index[:3], name] = None
    cleaned = clean(padded, run.params, run.clean_file)[name]
    assert cleaned.equals(clean(expected, run.params, run.clean_file)[name])
    assert cleaned.isna().sum() >= 3
