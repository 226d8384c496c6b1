"""All configuration in one module.

- ``Settings``: how the code runs (paths, logging, serving). Read from the
  environment, with a ``.env`` file in the working directory as a fallback.
- ``Params``: what the pipeline does (data, features, models, gates). Read from
  ``params.yaml``, which DVC tracks so a change reruns exactly the affected stages.

Both are typed dataclasses; a wrong value fails with one line naming it.
"""

from __future__ import annotations

import dataclasses
import os
{%- if cookiecutter.experiment_tracking == "mlflow" %}
import re
{%- endif %}
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError

PARAMS_FILE = Path("params.yaml")
MEBIBYTE = 1024 * 1024
{%- if cookiecutter.experiment_tracking == "mlflow" %}
PACKAGE = (__package__ or __name__).split(".")[0]  # also under python -m
{%- endif %}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Runtime settings; each field is read from the upper-case environment variable."""

    model_dir: Path = Path("models")
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    # models:/<name>@<alias> or models:/<name>/<version>: serve from the MLflow registry
    model_uri: str | None = None
    mlflow_tracking_uri: str | None = None  # an MLflow server; unset: the local store
{%- endif %}
    params_file: Path = PARAMS_FILE
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # HTTP service
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    threads: int = 1
    timeout: int = 60
    api_keys: tuple[str, ...] = ()
    api_keys_file: Path | None = None
    allow_unauthenticated: bool = False
    invocations_auth: Literal["api-key", "iam"] = "api-key"
    max_rows: int = 10_000
    max_body_bytes: int = 10 * MEBIBYTE
    # Prediction log (docs/monitoring.md): off while the folder is unset
    prediction_log_dir: Path | None = None
    prediction_log_sample: float = 1.0  # share of requests logged, 0 to 1
    prediction_log_max_bytes: int = 10 * 1024 * 1024  # per file, then a new file
    prediction_log_max_files: int = 10  # the oldest files beyond this are deleted

    @classmethod
    def from_env(
        cls, env: typing.Mapping[str, str] | None = None, dotenv: Path = Path(".env")
    ) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``) over the ``.env`` file."""
        values = {**read_dotenv(dotenv), **(os.environ if env is None else env)}
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for item in dataclasses.fields(cls):
            name = item.name.upper()
            if name in values:
                kwargs[item.name] = _parse_setting(name, values[name], hints[item.name])
        bind = values.get("SAGEMAKER_BIND_TO_PORT")
        if bind:
            # Set by SageMaker for a container of an inference pipeline, which must
            # listen there instead of on 8080 (the image sets PORT=8080).
            kwargs["port"] = _parse_setting("SAGEMAKER_BIND_TO_PORT", bind, int)
        if _parse_setting("SAGEMAKER_BATCH", values.get("SAGEMAKER_BATCH", ""), bool):
            kwargs.update(_batch_transform_limits(values, kwargs))
        return cls(**kwargs)

    def check_serving(self) -> None:
        """Refuse, in one line, values the server would start with and then fail on."""
        rules = {
            "PORT": (1 <= self.port <= 65535, "between 1 and 65535"),
            "WORKERS": (self.workers >= 1, "at least 1"),
            "THREADS": (self.threads >= 1, "at least 1"),
            "TIMEOUT": (self.timeout >= 0, "0 (no timeout) or more seconds"),
            "MAX_ROWS": (self.max_rows >= 1, "at least 1"),
            "MAX_BODY_BYTES": (self.max_body_bytes >= 1, "at least 1"),
        }
        self.check(rules)

    def check(self, rules: dict[str, tuple[bool, str]]) -> None:
        """Raise for the first setting whose rule does not hold: ``NAME: (holds, rule)``."""
        for name, (ok, rule) in rules.items():
            if not ok:
                value = getattr(self, name.lower())
                raise ConfigError(f"setting {name}={value!r}: must be {rule}")


def _batch_transform_limits(
    values: typing.Mapping[str, str], given: dict[str, Any]
) -> dict[str, int]:
    """Limits for a SageMaker batch transform, whose one client is SageMaker itself.

    It sends as many records as fit in the job's payload size: SAGEMAKER_MAX_PAYLOAD_IN_MB
    when the job sets one (the body limit then takes at least that), else what
    /execution-parameters offers, the body limit itself. The payload, not a row count,
    bounds a request: MAX_ROWS, unless set, becomes the body limit (a row takes a byte
    at least).
    """
    body = given.get("max_body_bytes", Settings.max_body_bytes)
    payload = values.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "")
    if payload:
        megabytes = _parse_setting("SAGEMAKER_MAX_PAYLOAD_IN_MB", payload, int)
        body = max(body, megabytes * MEBIBYTE)
    return {"max_body_bytes": body, "max_rows": given.get("max_rows", body)}


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines; ``#`` comments, ``export`` and quotes allowed."""
    if not path.is_file():
        return {}
    result = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        result[key.strip()] = value
    return result


def _parse_setting(name: str, raw: str, hint: Any) -> Any:
    optional = type(None) in typing.get_args(hint)
    if optional:
        if raw == "":
            return None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    origin = typing.get_origin(hint)
    if hint is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"setting {name}={raw!r}: must be true or false")
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"setting {name}={raw!r}: must be an integer") from None
    if hint is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"setting {name}={raw!r}: must be a number") from None
    if hint is Path:
        return Path(raw)
    if origin is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if origin is Literal:
        if raw not in typing.get_args(hint):
            allowed = ", ".join(typing.get_args(hint))
            raise ConfigError(f"setting {name}={raw!r}: must be one of {allowed}")
        return raw
    return raw


# --------------------------------------------------------------------------- params

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class DataParams:
    source: Path
    target: str
    task: Task
    delimiter: str = ","
    decimal: str = "."
    test_size: float = 0.2
    seed: int = 42

    def __post_init__(self) -> None:
        if not 0 < self.test_size < 1:
            raise ConfigError(f"params: data.test_size={self.test_size}: must be between 0 and 1")
        if self.decimal not in (".", ","):
            raise ConfigError(f"params: data.decimal={self.decimal!r}: must be '.' or ','")
        if self.decimal == self.delimiter:
            raise ConfigError(
                f"params: data.decimal={self.decimal!r}: must differ from data.delimiter "
                "(numbers like 1,5 come with delimiter ';')"
            )


@dataclass(frozen=True)
class FeatureParams:
    """Feature columns; ``None`` means inferred from dtypes (numbers are numeric)."""

    numeric: list[str] | None = None
    categorical: list[str] | None = None
    drop: list[str] = field(default_factory=list)

    @property
    def text_columns(self) -> list[str]:
        """Columns every file read gives as text: the declared categorical ones (a code
        such as 02134 is no number)."""
        return self.categorical or []


@dataclass(frozen=True)
class CleaningParams:
    drop_duplicates: bool = True
    # Valid [min, max] per numeric column; values outside become missing.
    ranges: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class PreprocessingParams:
    numeric_impute: Literal["median", "mean"] = "median"
    scale: bool = True
    categorical_impute: Literal["most_frequent", "constant"] = "most_frequent"
    max_categories: int | None = 20


@dataclass(frozen=True)
class TrainParams:
    models: list[str]
    search: Literal["grid", "random", "none"] = "grid"
    cv_folds: int = 5
    n_iter: int = 10
    scoring: str | None = None
    n_jobs: int | None = None
    grids: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("params: train.models=[]: name at least one model family")
        if self.cv_folds == 1 or self.cv_folds < 0:
            raise ConfigError(
                f"params: train.cv_folds={self.cv_folds}: must be 0 (off) or at least 2"
            )
        if self.cv_folds == 0 and (self.search != "none" or len(self.models) > 1):
            raise ConfigError(
                "params: train.cv_folds=0: cross-validation is needed to search "
                "hyperparameters or to choose between several models"
            )


@dataclass(frozen=True)
class Gate:
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class SegmentParams:
    """Held-out metrics per value of ``columns`` (a fairness check).

    The metric ``segment_gap`` is the largest best-minus-worst difference of
    ``metric`` between the segments of one column that have ``min_rows`` rows or
    more; ``validate.gates.segment_gap`` bounds it like any other metric.
    """

    columns: list[str] = field(default_factory=list)
    metric: str | None = None  # None: accuracy (classification) or rmse (regression)
    min_rows: int = 5

    def __post_init__(self) -> None:
        if self.min_rows < 1:
            raise ConfigError(
                f"params: validate.segments.min_rows={self.min_rows}: must be at least 1"
            )


@dataclass(frozen=True)
class ValidateParams:
    gates: dict[str, Gate] = field(default_factory=dict)
    segments: SegmentParams = field(default_factory=SegmentParams)


@dataclass(frozen=True)
class MonitoringParams:
    """The drift check (``make drift``): when a feature counts as drifted, and the gate.

    A feature drifts when its population stability index exceeds ``psi_max`` and
    its test (Kolmogorov-Smirnov, or chi-squared for categories) gives a p-value
    below ``p_value_min``: a shift both large and unlikely to be chance.
    """

    psi_max: float = 0.2
    p_value_min: float = 0.01
    max_drifted_features: int = 0  # the gate: more drifted features than this fail
    min_rows: int = 30  # fewer recent rows are too few to judge
    bins: int = 10  # quantile bins of a numeric feature for the PSI

    def __post_init__(self) -> None:
        rules = {
            "psi_max": (self.psi_max > 0, "must be above 0"),
            "p_value_min": (0 <= self.p_value_min <= 1, "must be between 0 and 1"),
            "max_drifted_features": (self.max_drifted_features >= 0, "must be 0 or more"),
            "min_rows": (self.min_rows >= 1, "must be at least 1"),
            "bins": (self.bins >= 2, "must be at least 2"),
        }
        for name, (ok, rule) in rules.items():
            if not ok:
                raise ConfigError(f"params: monitoring.{name}={getattr(self, name)}: {rule}")
{%- if cookiecutter.experiment_tracking == "mlflow" %}


REGISTRY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class PromotionParams:
    """The checklist a challenger must pass to become champion (``registry promote``).

    It must meet ``gates`` on its held-out metrics, and on ``gate_metric`` be no
    worse than the current champion by more than ``max_regression``.
    """

    gate_metric: str
    gates: dict[str, Gate] = field(default_factory=dict)
    max_regression: float = 0.0

    def __post_init__(self) -> None:
        if self.max_regression < 0:
            raise ConfigError(
                f"params: mlflow.promotion.max_regression={self.max_regression}: must be >= 0"
            )


@dataclass(frozen=True)
class MlflowParams:
    """Where runs are logged and which registered model they become (docs/experiments.md)."""

    experiment: str = PACKAGE
    model_name: str = PACKAGE
    promotion: PromotionParams | None = None

    def __post_init__(self) -> None:
        for name in ("experiment", "model_name"):
            value = getattr(self, name)
            if not REGISTRY_NAME.match(value):
                raise ConfigError(
                    f"params: mlflow.{name}={value!r}: use letters, digits, '_', '.' "
                    "and '-' (at most 100, starting with a letter or digit)"
                )
{%- endif %}


# The held-out metrics the validate stage writes for each task: what gates may bound.
METRIC_NAMES = {
    "classification": ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"),
    "regression": ("rmse", "mae", "r2"),
}
SEGMENT_GAP = "segment_gap"


@dataclass(frozen=True)
class Params:
    data: DataParams
    train: TrainParams
    features: FeatureParams = field(default_factory=FeatureParams)
    cleaning: CleaningParams = field(default_factory=CleaningParams)
    preprocessing: PreprocessingParams = field(default_factory=PreprocessingParams)
    validate: ValidateParams = field(default_factory=ValidateParams)
    monitoring: MonitoringParams = field(default_factory=MonitoringParams)
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    mlflow: MlflowParams = field(default_factory=MlflowParams)
{%- endif %}

    def __post_init__(self) -> None:
        """Metric names against the task, before any stage runs: after a change of
        data.task the sample's classification gates are named at once, not after training."""
        task = self.data.task
        names = METRIC_NAMES[task]
        gated = (*names, SEGMENT_GAP)
        named: list[tuple[str, str | None, tuple[str, ...]]] = [
            (f"validate.gates.{name}", name, gated) for name in self.validate.gates
        ]
        metric = self.validate.segments.metric
        named.append((f"validate.segments.metric={metric!r}", metric, names))
{%- if cookiecutter.experiment_tracking == "mlflow" %}
        if (promotion := self.mlflow.promotion) is not None:
            named += [(f"mlflow.promotion.gates.{name}", name, gated) for name in promotion.gates]
            metric = promotion.gate_metric
            named.append((f"mlflow.promotion.gate_metric={metric!r}", metric, names))
{%- endif %}
        for setting, name, allowed in named:
            if name is None or name in allowed:
                continue
{%- if cookiecutter.experiment_tracking == "mlflow" %}
            if setting.startswith("mlflow.") and name.startswith("cv_"):
                continue  # the run's cross-validation scores, which tracking logs as well
{%- endif %}
            raise ConfigError(
                f"params: {setting}: not a {task} metric (have: {', '.join(allowed)})"
            )

    @property
    def is_classifier(self) -> bool:
        return self.data.task == "classification"


def load_params(path: Path = PARAMS_FILE, overrides: dict[str, Any] | None = None) -> Params:
    """Read and type-check ``params.yaml``; ``overrides`` maps dotted keys to values."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (run from the project root)") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    for dotted, value in (overrides or {}).items():
        set_dotted(raw, dotted, value)
    return build(Params, raw, str(path))


def to_dict(params: Params) -> dict[str, Any]:
    return typing.cast(dict[str, Any], _plain(dataclasses.asdict(params)))


def flatten(params: Params) -> dict[str, Any]:
    """One ``section.key`` entry per field, e.g. ``{"train.cv_folds": 5}``."""
    return {
        f"{section}.{key}": value
        for section, values in to_dict(params).items()
        for key, value in values.items()
    }


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"params: cannot set {dotted!r}: {part!r} is not a section")
    node[leaf] = value


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def build(cls: Any, raw: Any, where: str) -> Any:
    """Turn plain YAML data into dataclass ``cls``, checking every value's type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {item.name for item in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(names))})"
        )
    kwargs = {}
    for item in dataclasses.fields(cls):
        if item.name in raw:
            kwargs[item.name] = _coerce(raw[item.name], hints[item.name], f"{where}: {item.name}")
        elif item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: {item.name} is required")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        return _coerce(value, options[0], where)
    if hint is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}={value!r}: must be one of {', '.join(map(str, args))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}={value!r}: must be a list")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}={value!r}: must be a mapping")
        return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}={value!r}: must be a file path")
        return Path(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}={value!r}: must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}={value!r}: must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}={value!r}: must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}={value!r}: must be a string")
        return value
    return value
