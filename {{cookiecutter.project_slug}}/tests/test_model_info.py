"""Model info: a complete model card, minimum quality, reproducible predictions."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import METRIC_NAMES, load_params
from {{ cookiecutter.package_name }}.data_processing.preprocessing import (
    build_pipeline,
    most_categories,
)
from {{ cookiecutter.package_name }}.errors import ConfigError, DataError, ModelError
from {{ cookiecutter.package_name }}.files import sha256_file
from {{ cookiecutter.package_name }}.model.artifact import METADATA_FILE, load_model
from {{ cookiecutter.package_name }}.model.train import (
    features_and_target,
    fit,
    make_estimator,
    plain_scalar,
    search,
    split_positions,
    train,
)
from {{ cookiecutter.package_name }}.model.validate import check_gates, warn_if_weak

from .conftest import FAST, PROJECT, Run, first_categorical


def test_model_card_is_complete_and_matches_the_artifact(run: Run) -> None:
    meta = run.model.metadata
    for key in (
        "model_version",
        "created_at",
        "task",
        "target",
        "estimator",
        "features",
        "cv",
        "params",
        "data",
        "git_commit",
        "versions",
        "artifact",
    ):
        assert key in meta, key
    assert meta["artifact"]["sha256"] == sha256_file(run.model_dir / meta["artifact"]["file"])
    assert meta["data"]["sha256"] == sha256_file(run.clean_file)
    assert meta["data"]["train_rows"] == len(run.train)
    assert meta["versions"]["scikit-learn"] == sklearn.__version__
    assert [f["name"] for f in meta["features"]] == run.model.spec.columns
    missing = run.train[run.model.spec.columns].isna().sum()
    assert {f["name"]: f["missing"] for f in meta["features"]} == missing.to_dict()
    assert meta["params"]["data"]["target"] == run.params.data.target
    assert meta["model_version"].endswith(meta["artifact"]["sha256"][:8])
    if run.params.is_classifier:
        assert meta["classes"] == sorted(run.clean[run.params.data.target].unique().tolist())
        assert meta["cv"]["best"]["mean"] is not None


def test_model_meets_the_quality_gates(run: Run) -> None:
    missed = check_gates(run.metrics, run.params.validate.gates)
    assert missed == [], (
        f"the model misses validate.gates of params.yaml: {'; '.join(missed)}. "
        "Improve the model, or set gates that fit your data (the shipped ones fit the sample)"
    )
    assert run.gate_failure is None, run.gate_failure  # the validate stage agrees


def test_predictions_are_deterministic(run: Run) -> None:
    """Fitting again on the training rows, with the same params, gives the model train() saved."""
    again, _ = fit(run.params, run.train, run.clean_file)
    x = run.model.features(run.test)
    assert np.array_equal(again.predict(x), run.model.pipeline.predict(x))


def _category_encoder(pipeline: Pipeline) -> Any:
    block = pipeline.named_steps["preprocess"].named_transformers_["categorical"]
    return block[-1] if isinstance(block, Pipeline) else block


@pytest.mark.parametrize("family", ["linear", "hist_gradient_boosting"])
def test_the_category_cap_applies_only_where_a_column_reaches_it(run: Run, family: str) -> None:
    """Below preprocessing.max_categories the cap groups nothing, so training leaves it
    off (scikit-learn counts every value in Python to apply it): the model predicts
    exactly as with the cap, unseen categories included. A column that reaches the cap
    still has its rarest values grouped."""
    first_categorical(run)  # skips without a categorical feature
    spec, x, y = features_and_target(run.train, run.params, run.clean_file)
    most = most_categories(x, spec)
    if most < 2:
        pytest.skip("every categorical feature holds a single value: no category to group")
    preprocessing = run.params.preprocessing
    cap = preprocessing.max_categories
    if cap is None or most >= cap:  # no cap, or a column reaches it: a cap just above
        preprocessing = dataclasses.replace(preprocessing, max_categories=most + 1)
    limit = preprocessing.max_categories
    assert limit is not None
    estimator = make_estimator(family, run.params)
    if family == "hist_gradient_boosting":
        estimator.set_params(max_iter=10)  # the encoders are under test: a small model will do
    capped = build_pipeline(spec, preprocessing, estimator).fit(x, y)
    free = build_pipeline(spec, preprocessing, estimator, most).fit(x, y)
    assert _category_encoder(capped).max_categories == limit
    assert _category_encoder(free).max_categories is None
    rows = run.model.features(run.test)
    first = spec.categorical[0]
    rows[first] = ["never seen in training", *rows[first][1:]]
    assert np.array_equal(free.predict(rows), capped.predict(rows))

    tight = dataclasses.replace(preprocessing, max_categories=most)
    grouped = build_pipeline(spec, tight, estimator, most).fit(x, y)
    assert _category_encoder(grouped).max_categories == most
    assert any(c is not None for c in _category_encoder(grouped).infrequent_categories_)


def test_predicting_leaves_the_callers_data_as_it_was(run: Run) -> None:
    """The scaler works in place on the imputer's copy, never on the caller's rows."""
    x = run.model.features(run.test)
    before = x.copy()
    run.model.pipeline.predict(x)
    estimator = make_estimator(run.model.metadata["estimator"], run.params)
    build_pipeline(run.model.spec, run.params.preprocessing, estimator).fit(
        x, run.test[run.params.data.target]
    )
    assert x.equals(before)


def test_save_and_load_give_the_same_predictions(run: Run) -> None:
    reloaded = load_model(run.model_dir)
    assert np.array_equal(reloaded.predict(run.test), run.model.predict(run.test))


def test_missing_categories_predict_alike_as_none_or_nan(run: Run) -> None:
    """JSON's null arrives as None; a column with nothing else in it must still reach
    the encoders as text, as it does when one row of it holds a value."""
    rows = run.test.head(3).copy()
    for name in run.model.spec.categorical:
        rows[name] = None
    with_nan = rows.astype(dict.fromkeys(run.model.spec.categorical, float))
    categorical = run.model.features(rows)[run.model.spec.categorical]
    assert all(dtype == "object" for dtype in categorical.dtypes), categorical.dtypes
    assert np.array_equal(run.model.predict(rows), run.model.predict(with_nan))


def test_input_without_a_feature_is_rejected_clearly(run: Run) -> None:
    missing = run.model.spec.columns[0]
    with pytest.raises(DataError, match=re.escape(f"lacks feature column '{missing}'")):
        run.model.predict(run.test.drop(columns=[missing]))


def test_a_changed_artifact_is_refused(run: Run, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(run.model_dir, copy)
    artifact = copy / run.model.metadata["artifact"]["file"]
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="does not match"):
        load_model(copy)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda meta: [meta], "must hold a JSON object, not list"),
        (lambda meta: {**meta, "artifact": None}, "artifact must be a JSON object"),
        (lambda meta: {**meta, "versions": "1.0"}, "versions must be a JSON object"),
        (lambda meta: {**meta, "features": ["bill"]}, "features must be a list of objects"),
    ],
    ids=["not an object", "artifact", "versions", "features"],
)
def test_a_damaged_model_card_is_refused_in_one_line(
    run: Run, tmp_path: Path, change: Any, expected: str
) -> None:
    copy = tmp_path / "models"
    shutil.copytree(run.model_dir, copy)
    card = copy / METADATA_FILE
    card.write_text(json.dumps(change(json.loads(card.read_text(encoding="utf-8")))))
    with pytest.raises(ModelError, match=re.escape(expected)):
        load_model(copy)


def test_an_artifact_that_is_not_a_pipeline_is_refused(run: Run, tmp_path: Path) -> None:
    """A matching hash only proves the file is the one recorded, not what it holds."""
    copy = tmp_path / "models"
    shutil.copytree(run.model_dir, copy)
    artifact = copy / run.model.metadata["artifact"]["file"]
    joblib.dump({"not": "a model"}, artifact)
    card = copy / METADATA_FILE
    meta = json.loads(card.read_text(encoding="utf-8"))
    meta["artifact"]["sha256"] = sha256_file(artifact)
    card.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match="holds a dict, not a scikit-learn Pipeline"):
        load_model(copy)


@pytest.mark.parametrize("content", ["{bad", "[1, 2]"], ids=["not JSON", "not an object"])
def test_damaged_metrics_leave_the_model_serving_without_them(
    run: Run, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    copy = tmp_path / "models"
    shutil.copytree(run.model_dir, copy)
    (copy / "metrics.json").write_text(content, encoding="utf-8")
    loaded = load_model(copy)
    assert loaded.metrics is None
    assert "not a JSON object of metrics; not shown" in caplog.text
    assert np.array_equal(loaded.predict(run.test), run.model.predict(run.test))


def test_a_model_from_another_scikit_learn_is_refused(run: Run, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(run.model_dir, copy)
    card = copy / METADATA_FILE
    meta = json.loads(card.read_text(encoding="utf-8"))
    meta["versions"]["scikit-learn"] = "0.24.2"
    card.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match=r"scikit-learn 0\.24\.2"):
        load_model(copy)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"train.models": ["linear", "xgboost"]}, "unknown family 'xgboost'"),
        ({"train.grids": {"random_forest": {"depth": [3]}}}, "'depth' is not a parameter"),
        ({"train.scoring": "f1macro"}, "not a scikit-learn scorer"),
{%- if cookiecutter.problem_type == "classification" %}
        ({"train.scoring": "r2"}, "'r2': not a classification metric"),
{%- else %}
        ({"train.scoring": "accuracy"}, "'accuracy': not a regression metric"),
{%- endif %}
    ],
    ids=["unknown family", "unknown grid key", "unknown scoring", "scoring of the other task"],
)
def test_bad_training_params_fail_before_the_first_fit(
    run: Run, caplog: pytest.LogCaptureFixture, override: dict[str, Any], expected: str
) -> None:
    params = load_params(PROJECT / "params.yaml", overrides={**FAST, **override})
    frame = run.clean.head(60)
    spec, x, y = features_and_target(frame, params, PROJECT / params.data.source)
    with caplog.at_level(logging.INFO), pytest.raises(ConfigError, match=expected):
        search(spec, x, y, params)
    assert not [r for r in caplog.records if "folds" in r.getMessage()], "a family was fitted"


def test_metrics_of_the_other_task_are_refused_when_params_load(run: Run) -> None:
    """Switching data.task leaves gates naming the old task's metrics: said at once,
    not after a training run."""
    task = run.params.data.task
    other = "regression" if task == "classification" else "classification"
    own = METRIC_NAMES[task][0]
    for override, where in (
        ({"validate.gates": {own: {"min": 0.5}}}, f"validate.gates.{own}"),
        ({"validate.gates": {}, "validate.segments.metric": own}, "validate.segments.metric="),
    ):
        with pytest.raises(ConfigError, match=re.escape(where) + f".*not a {other} metric"):
            load_params(PROJECT / "params.yaml", overrides={"data.task": other, **override})
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    # Promotion may also weigh the run's cross-validation scores, which tracking logs.
    cv = {"mlflow.promotion.gate_metric": "cv_f1_macro_mean"}
    assert load_params(PROJECT / "params.yaml", overrides=cv).mlflow.promotion is not None
{%- endif %}


def test_too_few_rows_for_the_folds_are_refused_before_the_first_fit(run: Run) -> None:
    params = load_params(PROJECT / "params.yaml", overrides={**FAST, "train.cv_folds": 5})
    target = run.clean[params.data.target]
    if params.is_classifier:  # a class of 3 rows cannot be in each of 5 folds
        rare = target.value_counts().index[-1]
        frame = pd.concat([run.clean[target != rare], run.clean[target == rare].head(3)])
        label = rare.item() if isinstance(rare, np.generic) else rare  # 1, not np.int64(1)
        expected = f"class {label!r} has 3 training row"
    else:
        frame, expected = run.clean.head(4), "only 4 training rows"
    spec, x, y = features_and_target(frame, params, PROJECT / params.data.source)
    with pytest.raises(DataError, match=re.escape(f"train.cv_folds=5: {expected}")):
        search(spec, x, y, params)
    if params.is_classifier:  # one class: no classifier at all, folds or none
        one = run.clean[target == target.iloc[0]]
        spec, x, y = features_and_target(one, params, PROJECT / params.data.source)
        for folds in (0, 5):
            no_cv = {**FAST, "train.cv_folds": folds, "train.models": ["linear"]}
            alone = load_params(PROJECT / "params.yaml", overrides=no_cv)
            with pytest.raises(DataError, match="the training rows hold a single class"):
                search(spec, x, y, alone)


def test_a_model_no_better_than_a_constant_is_pointed_out(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    """A model that always answers the common class looks accurate on rare classes."""
    actual = run.test[run.params.data.target].reset_index(drop=True).head(20)
    if run.params.is_classifier:
        common = actual.mode().iloc[0]
        table = pd.DataFrame({"actual": actual, "predicted": common})
        result = {"accuracy": float((actual == common).mean()), "f1_macro": 0.0}
        expected = f"no better than always answering {plain_scalar(common)!r}"
    else:
        table = pd.DataFrame({"actual": actual, "predicted": actual.mean()})
        result, expected = {"r2": 0.0}, "no better than predicting the mean"
    warn_if_weak(run.model, table, result)
    assert expected in caplog.text
    assert "held-out metrics rest on 20 rows" in caplog.text
    caplog.clear()
    good = {"accuracy": 1.0, "f1_macro": 1.0} if run.params.is_classifier else {"r2": 0.9}
    warn_if_weak(run.model, pd.concat([table] * 2), good)
    assert not caplog.records


def test_a_class_per_number_suggests_regression(run: Run) -> None:
    """Prices or counts with data.task left at classification: one class per value."""
    if not run.params.is_classifier:
        pytest.skip("a regression target is a number already")
    prices = run.clean.assign(**{run.params.data.target: np.arange(len(run.clean)) * 1000})
    with pytest.raises(DataError, match=r"distinct numbers: to predict a quantity, set data\.task"):
        split_positions(prices, run.params, Path("prices.csv"))


def test_a_scoring_no_fold_can_compute_stops_training_in_one_line(run: Run) -> None:
    """roc_auc is binary; on three or more classes scikit-learn scores every fold NaN,
    which must not become a model card full of NaN (not JSON)."""
    target = run.params.data.target
    if not run.params.is_classifier or run.clean[target].nunique() < 3:
        pytest.skip("needs a target of three or more classes")
    overrides = {**FAST, "train.scoring": "roc_auc", "train.models": ["linear"]}
    params = load_params(PROJECT / "params.yaml", overrides=overrides)
    spec, x, y = features_and_target(run.clean, params, PROJECT / params.data.source)
    with (
        pytest.warns(UserWarning, match="Scoring failed"),
        pytest.raises(DataError, match="no model family could be scored with 'roc_auc'"),
    ):
        search(spec, x, y, params)


def test_data_without_the_target_is_refused_in_one_line(run: Run, tmp_path: Path) -> None:
    """``python -m ...model.train --data FILE`` and the training container read any file."""
    data = tmp_path / "no_target.csv"
    run.clean.drop(columns=[run.params.data.target]).to_csv(data, index=False)
    expected = re.escape(f"target column '{run.params.data.target}' not found")
    with pytest.raises(DataError, match=expected):
        train(run.params, data, tmp_path / "model")


def test_missing_model_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path)
