"""Data features: valid ranges and categories, no target leakage, a clean split."""

from __future__ import annotations

import pandas as pd

from .conftest import Run


def test_numeric_features_respect_the_cleaning_ranges(run: Run) -> None:
    for column, (low, high) in run.params.cleaning.ranges.items():
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
    from {{ cookiecutter.package_name }}.model.train import split_train_test

    _, again_test = split_train_test(run.clean, run.params, run.clean_file)
    assert list(again_test.index) == list(run.test.index)
    if run.params.is_classifier:
        target = run.params.data.target
        overall = run.clean[target].value_counts(normalize=True)
        held_out = run.test[target].value_counts(normalize=True)
        assert set(held_out.index) == set(overall.index)
        assert (held_out - overall).abs().max() < 0.1
