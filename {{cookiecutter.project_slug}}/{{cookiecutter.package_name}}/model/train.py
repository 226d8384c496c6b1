"""Train the model (DVC stage ``train``).

For each model family in params.yaml, cross-validate a grid or randomized search
(or the defaults when ``train.search`` is ``none``), keep the family with the
best mean score, refit it on the whole training set and save it with its model
card: feature schema, params, CV scores, data hash, git commit, library versions.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import logging
import math
import platform
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator
from sklearn.metrics import get_scorer, get_scorer_names
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    ParameterGrid,
    RandomizedSearchCV,
    StratifiedKFold,
    cross_val_score,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from .. import cli
from ..config import Params, load_params, to_dict
from ..data_processing.cleaning import CLEAN_FILE
from ..data_processing.preprocessing import build_pipeline, most_categories
from ..data_processing.validation import MAX_FRACTIONAL_CLASSES, FeatureSpec, infer_features
from ..errors import ConfigError, DataError
from ..files import read_table, require_columns, sha256_file
from .artifact import save_model

MODEL_DIR = Path("models")

# Model families by task: (module, class, fixed arguments). Imported on use, so a
# command that loads a saved model does not pay for every estimator module.
FAMILIES: dict[str, dict[str, tuple[str, str, dict[str, Any]]]] = {
    "linear": {
        "classification": ("sklearn.linear_model", "LogisticRegression", {"max_iter": 2000}),
        "regression": ("sklearn.linear_model", "Ridge", {}),
    },
    "random_forest": {  # n_jobs=-1: trees are built in threads, no process start-up
        "classification": ("sklearn.ensemble", "RandomForestClassifier", {"n_jobs": -1}),
        "regression": ("sklearn.ensemble", "RandomForestRegressor", {"n_jobs": -1}),
    },
    "hist_gradient_boosting": {
        "classification": ("sklearn.ensemble", "HistGradientBoostingClassifier", {}),
        "regression": ("sklearn.ensemble", "HistGradientBoostingRegressor", {}),
    },
}
DEFAULT_SCORING = {"classification": "f1_macro", "regression": "neg_root_mean_squared_error"}
# Below this many training rows every fit runs on one OpenMP thread. A boosted tree
# synchronises its threads several times per node: on small data that costs more
# than it saves, and ten times more when other processes share the cores. Results
# do not depend on the thread count.
SINGLE_THREAD_ROWS = 5_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    family: str
    params: dict[str, Any]
    cv_mean: float | None
    cv_std: float | None
    seconds: float


def split_train_test(
    frame: pd.DataFrame, params: Params, path: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeded train/test split, stratified by class for classification.

    Training and validation both call this with the same params, so they agree on
    which rows are held out without storing a second copy of the data.
    """
    train_rows, test_rows = split_positions(frame, params, path)
    return frame.take(train_rows), frame.take(test_rows)


def split_positions(frame: pd.DataFrame, params: Params, path: Path) -> tuple[Any, Any]:
    """Row positions of the training and held-out parts: the rows scikit-learn's
    ``train_test_split(frame, test_size, random_state, stratify)`` picks."""
    rows, data = len(frame), params.data
    # Any file may arrive here (--data, a training job's channel): the target first.
    require_columns(path, [str(c) for c in frame.columns], [data.target], "target")
    if not params.is_classifier:
        train, test = train_test_split(
            np.arange(rows), test_size=data.test_size, random_state=data.seed
        )
        return train, test
    labels = frame[data.target]
    counts = labels.value_counts()
    rare = counts[counts < 2]
    if not rare.empty:
        numbers = pd.to_numeric(pd.Series(counts.index), errors="coerce").notna().all()
        raise DataError(
            f"{path}: class {plain_scalar(rare.index[0])!r} of target {data.target!r} has only "
            f"{rare.iloc[0]} row; a stratified split needs at least 2 per class"
            + (
                f" ({len(counts)} distinct numbers: to predict a quantity, set data.task: "
                "regression)"
                if numbers and len(counts) > MAX_FRACTIONAL_CLASSES
                else ""
            )
        )
    test_rows = math.ceil(data.test_size * rows)
    if min(test_rows, rows - test_rows) < len(counts):
        raise DataError(
            f"{path}: data.test_size={data.test_size} splits {rows} rows into "
            f"{rows - test_rows} and {test_rows}; a stratified split needs at least one row "
            f"of each of the {len(counts)} classes on each side"
        )
    # Class numbers in sorted class order, as scikit-learn numbers them.
    classes, _ = pd.factorize(labels, sort=True)
    return _stratified_positions(classes, test_rows, data.seed)


def _stratified_positions(classes: Any, test_rows: int, seed: int) -> tuple[Any, Any]:
    """scikit-learn's ``StratifiedShuffleSplit``, step for step and draw for draw.

    scikit-learn gathers the chosen rows in a Python list, one object per row: a
    third of a second for a million rows. Arrays give the same rows in a fraction
    of that; ``tests/test_data_features.py`` holds the two to the same result.
    """
    counts = np.bincount(classes)
    by_class = np.split(np.argsort(classes, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    train_counts = _approximate_mode(counts, len(classes) - test_rows, rng)
    test_counts = _approximate_mode(counts - train_counts, test_rows, rng)
    train, test = [], []
    for rows, n_train, n_test in zip(by_class, train_counts, test_counts, strict=True):
        shuffled = rows.take(rng.permutation(len(rows)))
        train.append(shuffled[:n_train])
        test.append(shuffled[n_train : n_train + n_test])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _approximate_mode(counts: Any, draws: int, rng: np.random.RandomState) -> Any:
    """Rows per class for ``draws`` rows in proportion to ``counts``: the floor of
    each share, then one more to the largest remainders, ties drawn at random
    (scikit-learn's ``sklearn.utils.extmath._approximate_mode``)."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    missing = int(draws - floored.sum())
    remainder = continuous - floored
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing <= 0:
            break
        (tied,) = np.where(remainder == value)
        chosen = rng.choice(tied, size=min(len(tied), missing), replace=False)
        floored[chosen] += 1
        missing -= len(chosen)
    return floored.astype(int)


def make_estimator(family: str, params: Params) -> BaseEstimator:
    if family not in FAMILIES:
        raise ConfigError(
            f"params: train.models: unknown family {family!r} (known: {', '.join(FAMILIES)})"
        )
    module, name, fixed = FAMILIES[family][params.data.task]
    estimator_class = getattr(importlib.import_module(module), name)
    seeded = (
        {"random_state": params.data.seed}
        if "random_state" in estimator_class().get_params()
        else {}
    )
    return estimator_class(**fixed, **seeded)


def features_and_target(
    frame: pd.DataFrame, params: Params, path: Path
) -> tuple[FeatureSpec, pd.DataFrame, pd.Series]:
    spec = infer_features(frame, params, path)
    return spec, spec.coerce(frame), frame[params.data.target]


# Where scikit-learn keeps the metrics of each task.
METRIC_MODULES = {
    "_classification": "classification",
    "_ranking": "classification",
    "_regression": "regression",
}


def check_scoring(scoring: str, task: str) -> None:
    """``train.scoring`` must name a scikit-learn scorer for the task: a misspelt one
    stopped the search with a traceback, and one of the other task scored every fold
    as NaN."""
    try:
        scorer = get_scorer(scoring)
    except ValueError:
        close = difflib.get_close_matches(scoring, get_scorer_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"params: train.scoring={scoring!r}: not a scikit-learn scorer{hint}; "
            "sklearn.metrics.get_scorer_names() lists them"
        ) from None
    # The metric's module tells its task (sklearn.metrics._regression, ...); a scorer
    # whose function is out of sight is left to the search.
    module = getattr(getattr(scorer, "_score_func", None), "__module__", None) or ""
    kind = next((k for suffix, k in METRIC_MODULES.items() if module.endswith(suffix)), None)
    if module and kind != task:
        raise ConfigError(
            f"params: train.scoring={scoring!r}: not a {task} metric (data.task: {task}); "
            f"the default is {DEFAULT_SCORING[task]!r}"
        )


def check_folds(y: pd.Series, folds: int, stratified: bool) -> None:
    """A classifier needs two classes, and each of ``train.cv_folds`` folds rows of
    every class to hold out."""
    counts = y.value_counts()
    if stratified and len(counts) < 2:
        raise DataError(
            f"the training rows hold a single class, {plain_scalar(counts.index[0])!r}; "
            "classification needs at least two"
        )
    if not folds:
        return
    if stratified and counts.min() < folds:
        raise DataError(
            f"params: train.cv_folds={folds}: class {plain_scalar(counts.idxmin())!r} has "
            f"{counts.min()} training row(s), fewer than the folds; lower train.cv_folds "
            "or add data"
        )
    if len(y) < folds:
        raise DataError(
            f"params: train.cv_folds={folds}: only {len(y)} training rows; lower "
            "train.cv_folds or add data"
        )


def search(
    spec: FeatureSpec, x: pd.DataFrame, y: pd.Series, params: Params, most: int | None = None
) -> list[Candidate]:
    """Cross-validate every model family; one ``Candidate`` per family. ``most``: the
    ``most_categories`` of ``x``, computed once by the caller (None computes it here)."""
    if most is None:
        most = most_categories(x, spec)
    settings = params.train
    scoring = settings.scoring or DEFAULT_SCORING[params.data.task]
    splitter = StratifiedKFold if params.is_classifier else KFold
    # Every family, grid and fold count is checked before the first fit, not minutes
    # into a search.
    check_scoring(scoring, params.data.task)
    planned = []
    for family in settings.models:
        estimator = make_estimator(family, params)
        pipeline = build_pipeline(spec, params.preprocessing, estimator, most)
        grid = {f"model__{k}": v for k, v in settings.grids.get(family, {}).items()}
        _check_grid(pipeline, family, grid)
        planned.append((family, pipeline, grid))
    check_folds(y, settings.cv_folds, params.is_classifier)
    candidates = []
    for number, (family, pipeline, grid) in enumerate(planned, start=1):
        label = f"[{number}/{len(planned)}] {family}"
        if not settings.cv_folds:
            log.info("%s: default hyperparameters, no cross-validation", label)
            candidates.append(Candidate(family, {}, None, None, 0.0))
            continue
        folds = splitter(settings.cv_folds, shuffle=True, random_state=params.data.seed)
        started = time.perf_counter()
        if settings.search == "none" or not grid:
            log.info("%s: default hyperparameters x %d folds", label, settings.cv_folds)
            scores = cross_val_score(
                pipeline, x, y, cv=folds, scoring=scoring, n_jobs=settings.n_jobs
            )
            best, mean, std = {}, scores.mean(), scores.std()
        else:
            size = len(ParameterGrid(grid))
            if settings.search == "grid":
                searcher: GridSearchCV | RandomizedSearchCV = GridSearchCV(
                    pipeline, grid, cv=folds, scoring=scoring, n_jobs=settings.n_jobs, refit=False
                )
            else:
                size = min(size, settings.n_iter)
                searcher = RandomizedSearchCV(
                    pipeline,
                    grid,
                    n_iter=size,
                    cv=folds,
                    scoring=scoring,
                    n_jobs=settings.n_jobs,
                    refit=False,
                    random_state=params.data.seed,
                )
            log.info(
                "%s: %s search, %d candidates x %d folds = %d fits",
                label,
                settings.search,
                size,
                settings.cv_folds,
                size * settings.cv_folds,
            )
            searcher.fit(x, y)
            best = searcher.best_params_
            mean = searcher.cv_results_["mean_test_score"][searcher.best_index_]
            std = searcher.cv_results_["std_test_score"][searcher.best_index_]
        seconds = time.perf_counter() - started
        if not np.isfinite(mean):  # scikit-learn scores a fold it could not score as NaN
            log.warning(
                "%s: left out: some folds could not be scored with %s (see the warnings above)",
                label,
                scoring,
            )
            continue
        candidate = Candidate(family, _plain(best), float(mean), float(std), round(seconds, 2))
        log.info(
            "%s: %s %.4f +/- %.4f in %.1f s %s",
            label,
            scoring,
            mean,
            std,
            seconds,
            candidate.params or "",
        )
        candidates.append(candidate)
    if not candidates:
        raise DataError(
            f"no model family could be scored with {scoring!r} on every fold; fix the data "
            "or train.scoring (the warnings above say what failed)"
        )
    return candidates


def _check_grid(pipeline: Pipeline, family: str, grid: dict[str, list[Any]]) -> None:
    valid = pipeline.get_params()
    for key, values in grid.items():
        name = key.removeprefix("model__")
        if key not in valid:
            model = pipeline.named_steps["model"]
            takes = ", ".join(sorted(model.get_params(deep=False)))
            raise ConfigError(
                f"params: train.grids.{family}: {name!r} is not a parameter of "
                f"{type(model).__name__} (it takes: {takes})"
            )
        if not isinstance(values, list) or not values:
            raise ConfigError(f"params: train.grids.{family}.{name}: must be a non-empty list")


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in values.items()}


def fit(params: Params, frame: pd.DataFrame, source: Path) -> tuple[Pipeline, dict[str, Any]]:
    """Search, refit the best family on all of ``frame`` and describe it for the model card."""
    spec, x, y = features_and_target(frame, params, source)
    most = most_categories(x, spec)
    with fit_threads(len(x)):
        candidates = search(spec, x, y, params, most)
        scored = [c for c in candidates if c.cv_mean is not None]
        best = max(scored, key=lambda c: c.cv_mean or 0.0) if scored else candidates[0]
        estimator = make_estimator(best.family, params)
        pipeline = build_pipeline(spec, params.preprocessing, estimator, most)
        pipeline.set_params(**best.params)
        started = time.perf_counter()
        pipeline.fit(x, y)
    log.info("refit %s on %d rows in %.1f s", best.family, len(x), time.perf_counter() - started)
    metadata = {
        "task": params.data.task,
        "target": params.data.target,
        "estimator": best.family,
        "estimator_params": {k.removeprefix("model__"): v for k, v in best.params.items()},
        "features": describe_features(spec, x),
        "classes": [plain_scalar(c) for c in pipeline.classes_] if params.is_classifier else None,
        "cv": {
            "scoring": params.train.scoring or DEFAULT_SCORING[params.data.task],
            "folds": params.train.cv_folds,
            "best": {"mean": best.cv_mean, "std": best.cv_std},
            "candidates": [vars(c) for c in candidates],
        },
        "params": to_dict(params),
        "data": {"file": str(source), "train_rows": len(frame)},
    }
    return pipeline, metadata


def fit_threads(rows: int) -> contextlib.AbstractContextManager[object]:
    """One OpenMP thread per fit for small data (``SINGLE_THREAD_ROWS``), else the default."""
    if rows < SINGLE_THREAD_ROWS:
        return threadpool_limits(limits=1, user_api="openmp")
    return contextlib.nullcontext()


def describe_features(spec: FeatureSpec, x: pd.DataFrame) -> list[dict[str, Any]]:
    """The feature schema, in data order: what serving accepts and the data tests check."""
    described: list[dict[str, Any]] = []
    for name in spec.columns:
        column = x[name]
        if name in spec.numeric:
            described.append(
                {
                    "name": name,
                    "missing": int(column.isna().sum()),
                    "kind": "numeric",
                    "dtype": "float64",
                    "min": plain_scalar(column.min()),
                    "max": plain_scalar(column.max()),
                }
            )
        else:
            # One pass over the text column for both facts: codes are -1 where missing.
            codes, categories = pd.factorize(column)
            described.append(
                {
                    "name": name,
                    "missing": int(np.count_nonzero(codes < 0)),
                    "kind": "categorical",
                    "dtype": "string",
                    "categories": sorted(categories.tolist()),
                }
            )
    return described


def plain_scalar(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (NaN as None), for messages and JSON."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def provenance() -> dict[str, Any]:
    """Git commit and library versions for the model card."""
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
        },
    }


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def train(
    params: Params, data_file: Path = CLEAN_FILE, model_dir: Path = MODEL_DIR
) -> dict[str, Any]:
    """Train on the training part of ``data_file``, write the model to ``model_dir``."""
    with ThreadPoolExecutor(max_workers=1) as background:
        # The data hash for the model card, taken while the data is read and the model
        # fitted: file reads and hashlib release the GIL, and on a large file hashing
        # costs a fifth to a quarter of reading it.
        data_hash = background.submit(sha256_file, data_file)
        frame = read_table(data_file, text=params.features.text_columns)
        train_rows, test_rows = split_positions(frame, params, data_file)
        train_part = frame.take(train_rows)
        del frame  # the training part is a copy: free the rest before fitting
        pipeline, metadata = fit(params, train_part, data_file)
        metadata["data"].update(test_rows=len(test_rows), sha256=data_hash.result())
    metadata.update(provenance())
    written = save_model(pipeline, metadata, model_dir)
    log.info("model %s (%s) -> %s", written["model_version"], written["estimator"], model_dir)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--data", type=Path, default=CLEAN_FILE, help="clean data CSV (default: %(default)s)"
    )
    parser.add_argument(
        "--model-dir", type=Path, default=MODEL_DIR, help="output folder (default: %(default)s)"
    )
    cli.run(_run, parser.parse_args(argv))


def _run(args: argparse.Namespace) -> None:
    train(load_params(args.params), args.data, args.model_dir)


if __name__ == "__main__":
    main()
