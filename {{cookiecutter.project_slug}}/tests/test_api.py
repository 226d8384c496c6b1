"""The HTTP API: auth, every error class, train/serve consistency, OpenAPI, fuzzing.

Most tests use Flask's test client, which runs the same app code as gunicorn;
``TestServer`` starts the real thing (``python -m ...serve``) on 127.0.0.1.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.pipeline import Pipeline
from werkzeug.test import TestResponse

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.errors import ConfigError, ModelError
from {{ cookiecutter.package_name }}.model.train import FAMILIES, fit
from {{ cookiecutter.package_name }}.serve import create_app
from {{ cookiecutter.package_name }}.serve.inputs import (
    Batch,
    RequestError,
    csv_module_batch,
    parse_csv,
    plain_csv,
    records_to_batch,
)

from .conftest import API_KEY, PROJECT, Run, first_categorical, first_numeric, serving

AUTH = {"X-API-Key": API_KEY}


def records(frame: pd.DataFrame, run: Run) -> list[dict[str, Any]]:
    """Rows as JSON records, with NaN sent as null."""
    features = frame[run.model.spec.columns].astype(object)
    return [
        {str(k): (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in features.to_dict(orient="records")
    ]


def json_of(response: TestResponse) -> Any:
    """The body of an API answer, which is JSON for every route but /metrics, errors included."""
    assert response.is_json, response.mimetype
    return response.json


MAX_ROWS = 500


@pytest.fixture(scope="module")
def max_body_bytes(run: Run) -> int:
    """200 kB, or room for twice MAX_ROWS records of wide data: a batch of too many
    rows must be refused for its rows, before its size."""
    record = json.dumps(records(run.test.head(1), run)[0])
    return max(200_000, 2 * (MAX_ROWS + 1) * (len(record) + 2))


@pytest.fixture(scope="module")
def app(run: Run, max_body_bytes: int) -> Flask:
    return create_app(
        Settings(
            model_dir=run.model_dir,
            api_keys=(API_KEY,),
            max_rows=MAX_ROWS,
            max_body_bytes=max_body_bytes,
        )
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def row(run: Run) -> dict[str, Any]:
    return records(run.test.head(1), run)[0]


# --------------------------------------------------------------------------- auth


def test_ping_and_health_are_open(client: FlaskClient) -> None:
    assert client.get("/ping").status_code == 200
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong-key-0123456789"},
        {"Authorization": "Bearer wrong-key-0123456789"},
        {"Authorization": "Basic abc"},
    ],
    ids=["none", "wrong", "wrong-bearer", "basic"],
)
@pytest.mark.parametrize(
    "path", ["/predict", "/invocations", "/model", "/metrics", "/openapi.json"]
)
def test_protected_routes_need_a_valid_key(
    client: FlaskClient, row: dict[str, Any], path: str, headers: dict[str, str]
) -> None:
    response = client.open(
        path,
        method="GET" if path in ("/model", "/metrics", "/openapi.json") else "POST",
        json={"instances": [row]},
        headers=headers,
    )
    assert response.status_code == 401
    assert json_of(response)["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert API_KEY not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers", [AUTH, {"Authorization": f"Bearer {API_KEY}"}], ids=["x-api-key", "bearer"]
)
def test_a_valid_key_is_accepted(
    client: FlaskClient, row: dict[str, Any], headers: dict[str, str]
) -> None:
    assert client.post("/predict", json={"instances": [row]}, headers=headers).status_code == 200


def test_invocations_can_rely_on_iam(run: Run, row: dict[str, Any]) -> None:
    app = create_app(Settings(model_dir=run.model_dir, invocations_auth="iam"))
    client = app.test_client()
    assert client.post("/invocations", json={"instances": [row]}).status_code == 200
    assert client.post("/predict", json={"instances": [row]}).status_code == 401


def test_start_up_refuses_without_keys(run: Run) -> None:
    with pytest.raises(ConfigError, match="no API keys"):
        create_app(Settings(model_dir=run.model_dir))
    assert create_app(Settings(model_dir=run.model_dir, allow_unauthenticated=True))


def test_keys_and_no_auth_at_once_are_refused(run: Run) -> None:
    """Turning auth off must not pass unnoticed where keys are configured."""
    with pytest.raises(ConfigError, match=r"ALLOW_UNAUTHENTICATED=true.*API keys"):
        create_app(
            Settings(model_dir=run.model_dir, api_keys=(API_KEY,), allow_unauthenticated=True)
        )


@pytest.mark.parametrize(
    ("prefix", "bom"),
    [("sha256:", ""), ("SHA256:", ""), ("sha256:", "\ufeff")],
    ids=["hash", "upper-case prefix", "byte-order mark"],
)
def test_hashed_keys_from_a_file(
    run: Run, tmp_path: Path, row: dict[str, Any], prefix: str, bom: str
) -> None:
    from {{ cookiecutter.package_name }}.serve.auth import digest

    keys = tmp_path / "keys"
    line = f"{prefix}{digest(API_KEY).hex()}"
    keys.write_text(f"{bom}{line}\n# production keys\n", encoding="utf-8")
    client = create_app(Settings(model_dir=run.model_dir, api_keys_file=keys)).test_client()
    assert client.post("/predict", json={"instances": [row]}, headers=AUTH).status_code == 200
    for wrong in ("x" * 20, line):  # the hash line itself is no key
        response = client.post("/predict", json={"instances": [row]}, headers={"X-API-Key": wrong})
        assert response.status_code == 401


def test_short_keys_are_refused(run: Run) -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        create_app(Settings(model_dir=run.model_dir, api_keys=("short",)))


def test_keys_no_header_can_carry_are_refused(run: Run, tmp_path: Path) -> None:
    """A client sends a header's bytes and the server reads them as Latin-1, so a key
    with other characters would be accepted at start-up and then never match."""
    with pytest.raises(ConfigError, match="API_KEYS: an API key must be printable ASCII"):
        create_app(Settings(model_dir=run.model_dir, api_keys=("clé-" + "x" * 16,)))
    keys = tmp_path / "keys"
    keys.write_bytes(b"\xff\xfe" + "x".encode("utf-16-le") * 20)
    with pytest.raises(ConfigError, match=f"API_KEYS_FILE={keys}: not UTF-8 text"):
        create_app(Settings(model_dir=run.model_dir, api_keys_file=keys))


def test_a_missing_model_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        create_app(Settings(model_dir=tmp_path, api_keys=(API_KEY,)))


# --------------------------------------------------------------------------- predictions


def test_predictions_over_http_equal_in_process_predictions(client: FlaskClient, run: Run) -> None:
    response = client.post("/predict", json={"instances": records(run.test, run)}, headers=AUTH)
    assert response.status_code == 200
    body = json_of(response)
    expected = run.model.predict(run.test)
    if run.params.is_classifier:
        assert body["predictions"] == list(expected)
        assert body["classes"] == run.model.classes
        assert np.allclose(np.array(body["probabilities"]).sum(axis=1), 1.0, atol=1e-4)
    else:
        assert np.allclose(body["predictions"], expected)
    assert body["model_version"] == run.model.version


def test_a_byte_order_mark_before_json_is_not_content(
    client: FlaskClient, row: dict[str, Any]
) -> None:
    """Windows tools write one; RFC 8259 lets a parser ignore it, as the CSV parser does."""
    body = json.dumps({"instances": [row]}).encode()
    plain = client.post("/predict", data=body, content_type="application/json", headers=AUTH)
    for route, content_type, sent in (
        ("/predict", "application/json", body),
        ("/invocations", "application/jsonlines", json.dumps(row).encode()),
    ):
        marked = client.post(
            route, data=b"\xef\xbb\xbf" + sent, content_type=content_type, headers=AUTH
        )
        assert marked.status_code == 200, json_of(marked)
        assert json_of(marked)["predictions"] == json_of(plain)["predictions"]


def test_columns_and_records_give_the_same_answer(client: FlaskClient, run: Run) -> None:
    sent = records(run.test, run)
    columns = {name: [record[name] for record in sent] for name in run.model.spec.columns}
    by_records = client.post("/predict", json={"instances": sent}, headers=AUTH)
    by_columns = client.post("/predict", json={"columns": columns}, headers=AUTH)
    assert by_columns.status_code == 200
    assert json_of(by_columns) == json_of(by_records)
    assert len(json_of(by_columns)["predictions"]) == len(sent)


@pytest.mark.parametrize(
    ("env", "port"),
    [
        ({}, 8080),
        ({"PORT": "9000"}, 9000),
        ({"PORT": "8080", "SAGEMAKER_BIND_TO_PORT": "9001"}, 9001),
    ],
)
def test_the_port_is_sagemakers_when_it_names_one(env: dict[str, str], port: int) -> None:
    """A container of a SageMaker inference pipeline listens on SAGEMAKER_BIND_TO_PORT."""
    assert Settings.from_env(env, dotenv=Path("/nonexistent")).port == port


def test_execution_parameters_tell_batch_transform_what_the_container_takes(run: Run) -> None:
    """SageMaker batch transform asks, without an API key, before its first request."""
    settings = Settings(
        model_dir=run.model_dir, api_keys=(API_KEY,), workers=3, threads=2, max_body_bytes=8 << 20
    )
    response = create_app(settings).test_client().get("/execution-parameters")
    assert response.status_code == 200
    assert json_of(response) == {
        "MaxConcurrentTransforms": 6,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 8,
    }


@pytest.mark.parametrize(
    ("env", "body", "rows"),
    [
        ({}, 10 << 20, 10_000),
        ({"SAGEMAKER_BATCH": "true"}, 10 << 20, 10 << 20),
        ({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "50"}, 50 << 20, 50 << 20),
        ({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}, 10 << 20, 10 << 20),
        ({"SAGEMAKER_BATCH": "true", "MAX_ROWS": "500"}, 10 << 20, 500),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "50"}, 10 << 20, 10_000),
    ],
    ids=["service", "batch", "batch-50-mb", "batch-chunked", "batch-max-rows", "not-batch"],
)
def test_batch_transform_limits_follow_its_payload(
    env: dict[str, str], body: int, rows: int
) -> None:
    """In a batch transform the payload SageMaker sends bounds a request, not a row count."""
    settings = Settings.from_env(env, dotenv=Path("/nonexistent"))
    assert (settings.max_body_bytes, settings.max_rows) == (body, rows)


def test_a_batch_transform_gets_more_rows_than_a_service_request(run: Run) -> None:
    """A 6 MB mini-batch holds far more records than MAX_ROWS allows a service client.
    The environment is the one the runner gives a SageMaker model, plus the job's flag
    (and for wide data, whose rows fill more than that, the job's larger payload)."""
    env = {"SAGEMAKER_BATCH": "true", "INVOCATIONS_AUTH": "iam", "MODEL_DIR": str(run.model_dir)}
    rows = run.test[run.model.spec.columns]
    body = rows.sample(Settings().max_rows + 2_000, replace=True, random_state=0)
    text = body.to_csv(index=False, header=False)
    if len(text.encode()) > 6 << 20:
        env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str((len(text.encode()) >> 20) + 1)
    settings = Settings.from_env(env, dotenv=Path("/nonexistent"))
    client = create_app(settings).test_client()
    response = client.post("/invocations", data=text, content_type="text/csv")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert len(json_of(response)["predictions"]) == len(body)


def test_fast_path_replays_the_pipeline_exactly(run: Run) -> None:
    from {{ cookiecutter.package_name }}.serve.compiled import CompiledPreprocessor
    from {{ cookiecutter.package_name }}.serve.predictor import Predictor

    predictor = Predictor(run.model)
    assert predictor.preprocess is not None, "the fast path should cover the generated pipeline"
    batch = records_to_batch(records(run.test, run), run.model.spec)
    served = predictor.predict(batch)
    x = run.model.features(run.test)
    if run.params.is_classifier:
        expected = run.model.pipeline.predict_proba(x)
        assert np.allclose(served["probabilities"], expected, rtol=0, atol=1e-9)
    else:
        expected = run.model.pipeline.predict(x)  # to the last digits, whatever the scale
        assert np.allclose(served["predictions"], expected, rtol=1e-12, atol=1e-9)
    transformed = run.model.pipeline.named_steps["preprocess"].transform(x)
    compiled = CompiledPreprocessor.build(run.model)
    assert compiled is not None
    # NaN where a model that takes missing values natively (gradient boosting) gets them
    assert np.allclose(compiled.transform(batch), transformed, rtol=0, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_model_family_gets_the_fast_path_and_the_same_answers(run: Run, family: str) -> None:
    """Each family with its own preprocessing (gradient boosting takes categories and
    missing values natively), on random rows with missing values and unseen categories."""
    from {{ cookiecutter.package_name }}.model.artifact import LoadedModel
    from {{ cookiecutter.package_name }}.serve.compiled import probe_batch
    from {{ cookiecutter.package_name }}.serve.predictor import Predictor

    train = replace(run.params.train, models=[family], search="none", cv_folds=0)
    pipeline, metadata = fit(replace(run.params, train=train), run.train, run.clean_file)
    model = LoadedModel(pipeline=pipeline, metadata={**metadata, "model_version": family})
    predictor = Predictor(model)
    assert predictor.preprocess is not None, f"no fast path for {family}"
    # One thread per request (a forest trains on every core); unset n_jobs stays unset.
    assert pipeline.get_params().get("model__n_jobs") in (None, 1)
    batch = probe_batch(model, seed=7)
    served = predictor.predict(batch)
    x = model.within_ranges(batch.frame())  # the probe has values outside cleaning.ranges
    if run.params.is_classifier:
        expected = pipeline.predict_proba(x)
        assert np.allclose(served["probabilities"], expected, rtol=0, atol=1e-9)
        assert list(served["predictions"]) == list(pipeline.predict(x))
    else:
        expected = pipeline.predict(x)
        assert np.allclose(served["predictions"], expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "scikit-learn"])
def test_values_outside_the_cleaning_ranges_are_predicted_as_missing(
    client: FlaskClient, run: Run, fast_path: bool
) -> None:
    """Cleaning made such values missing in the training data (cleaning.ranges), so the
    model imputes them when serving too, over HTTP and in-process alike. For data whose
    cleaning.ranges name no numeric feature, the model's card is given the training
    range of its first one, as cleaning.ranges would have."""
    from {{ cookiecutter.package_name }}.model.artifact import LoadedModel
    from {{ cookiecutter.package_name }}.serve.predictor import Predictor

    model = run.model
    if not model.valid_ranges:
        name = first_numeric(run)  # skips without a numeric feature
        bounds = [float(run.train[name].min()), float(run.train[name].max())]
        card = model.metadata["params"]
        cleaning = {**card["cleaning"], "ranges": {name: bounds}}
        metadata = {**model.metadata, "params": {**card, "cleaning": cleaning}}
        model = LoadedModel(pipeline=model.pipeline, metadata=metadata)
        client = create_app(
            Settings(model_dir=run.model_dir, api_keys=(API_KEY,)), model=model
        ).test_client()
    name, (low, high) = next(iter(model.valid_ranges.items()))
    sent = records(run.test.head(3), run)
    values = [low - 1, high + 10 * abs(high) + 1, min(-1e9, low - 1e9)]
    outside = [{**record, name: value} for record, value in zip(sent, values, strict=True)]
    gaps = [{**record, name: None} for record in sent]
    predictor = Predictor(model)
    if not fast_path:
        predictor.preprocess = predictor.head = None
    batches = [records_to_batch(rows, run.model.spec) for rows in (outside, gaps)]
    answers = [predictor.predict(batch) for batch in batches]
    key = "probabilities" if run.params.is_classifier else "predictions"
    assert np.array_equal(answers[0][key], answers[1][key])
    over_http = json_of(client.post("/predict", json={"instances": outside}, headers=AUTH))
    assert np.allclose(over_http[key], answers[1][key], rtol=0, atol=1e-12)
    in_process = model.predict(pd.DataFrame(outside))
    assert np.array_equal(in_process, model.predict(pd.DataFrame(gaps)))
    if run.params.is_classifier:
        assert list(in_process) == list(over_http["predictions"])


def test_a_custom_step_turns_the_fast_path_off_not_the_answers(run: Run) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from {{ cookiecutter.package_name }}.model.artifact import LoadedModel
    from {{ cookiecutter.package_name }}.serve.predictor import Predictor

    steps = run.model.pipeline.steps
    custom = Pipeline([steps[0], ("double", FunctionTransformer(lambda x: x * 2)), steps[1]])
    model = LoadedModel(pipeline=custom, metadata=run.model.metadata)
    predictor = Predictor(model)
    assert predictor.preprocess is None
    batch = records_to_batch(records(run.test.head(5), run), run.model.spec)
    expected = custom.predict(run.model.features(run.test.head(5)))
    served = predictor.predict(batch)["predictions"]
    if run.params.is_classifier:
        assert list(served) == list(expected)
    else:
        assert np.allclose(served, expected)


def test_invocations_speaks_csv_both_ways(client: FlaskClient, run: Run) -> None:
    rows = run.test.head(5)[run.model.spec.columns]
    csv_body = rows.to_csv(index=False, header=False)
    response = client.post(
        "/invocations",
        data=csv_body,
        content_type="text/csv",
        headers={**AUTH, "Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).strip().splitlines()
    expected = run.model.predict(rows)
    if run.params.is_classifier:
        assert lines == [str(p) for p in expected]
    else:
        assert np.allclose([float(v) for v in lines], expected)
    with_header = rows.to_csv(index=False)
    response = client.post("/invocations", data=with_header, content_type="text/csv", headers=AUTH)
    assert response.status_code == 200
    assert len(json_of(response)["predictions"]) == 5


def test_a_csv_header_may_name_the_features_in_any_order(
    client: FlaskClient, row: dict[str, Any]
) -> None:
    """Columns follow the header's names, on either parser (a quoted cell takes the
    csv module's path)."""
    names = list(row)[::-1]
    cells = [csv_cell(row[name]) for name in names]
    quoted = [cell if cell.startswith('"') else f'"{cell}"' for cell in cells]
    expected = json_of(client.post("/predict", json={"instances": [row]}, headers=AUTH))
    for line in (cells, quoted):
        body = csv_header(names) + ",".join(line) + "\n"
        response = client.post("/invocations", data=body, content_type="text/csv", headers=AUTH)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert json_of(response)["predictions"] == expected["predictions"]


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: quoted only if it holds a comma, a quote or a line break."""
    text = "" if value is None else str(value)
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def jsonlines(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def test_invocations_speak_json_lines_both_ways(client: FlaskClient, run: Run) -> None:
    """SageMaker batch transform's other line format: a record per line in, an object
    per record out, with the same answers as JSON."""
    sent = records(run.test.head(5), run)
    as_json = json_of(client.post("/predict", json={"instances": sent}, headers=AUTH))
    response = client.post(
        "/invocations",
        data=jsonlines(sent) + b"\n",  # a blank line, as a split file may end
        content_type="application/jsonlines",
        headers={**AUTH, "Accept": "application/jsonlines"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/jsonlines"
    answers = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [answer["prediction"] for answer in answers] == as_json["predictions"]
    if run.params.is_classifier:
        names = [str(label) for label in as_json["classes"]]
        for answer, probabilities in zip(answers, as_json["probabilities"], strict=True):
            assert list(answer["probabilities"]) == names
            assert list(answer["probabilities"].values()) == probabilities
    as_csv = client.post(
        "/invocations", data=jsonlines(sent), content_type="application/jsonlines", headers=AUTH
    )
    assert json_of(as_csv)["predictions"] == as_json["predictions"]


def test_json_lines_answers_keep_any_label_and_every_digit() -> None:
    """The answer is assembled from one serialisation per array: labels with commas,
    brackets or quotes and numbers at the edges of float64 come out as they went in."""
    from {{ cookiecutter.package_name }}.serve.app import jsonlines_response

    odd = 'x"],['
    result = {
        "predictions": ["a,],[b", "c"],
        "classes": [odd, "c"],
        "probabilities": np.array([[0.25, 0.75], [1e-300, 1.0]]),
    }
    lines = jsonlines_response(result).get_data().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"prediction": "a,],[b", "probabilities": {odd: 0.25, "c": 0.75}},
        {"prediction": "c", "probabilities": {odd: 1e-300, "c": 1.0}},
    ]
    numbers = np.array([1.5, -2e-7, 1.7976931348623157e308])
    lines = jsonlines_response({"predictions": numbers}).get_data().splitlines()
    assert [json.loads(line)["prediction"] for line in lines] == numbers.tolist()


def test_json_lines_errors_name_the_line(
    client: FlaskClient, run: Run, row: dict[str, Any]
) -> None:
    other = not_a_feature(run)
    cases = {
        jsonlines([row]) + b"{not json\n": (400, "lines[1] is not valid JSON"),
        jsonlines([row]) + b"[1, 2]\n": (422, "lines[1]: must be an object"),
        jsonlines([{**row, other: "red"}]): (422, f"lines[0].{other}: unknown field"),
        b"\n\n": (422, "lines: empty batch"),
        # blank lines are skipped but still counted: the error names the line as sent
        jsonlines([row]) + b"\n\n{not json\n": (400, "lines[3] is not valid JSON"),
        b"\n" + jsonlines([row, {**row, other: "red"}]): (422, f"lines[2].{other}: unknown"),
    }
    for body, (status, message) in cases.items():
        response = client.post(
            "/invocations", data=body, content_type="application/jsonlines", headers=AUTH
        )
        assert response.status_code == status, body
        assert json_of(response)["error"]["message"].startswith(message), body


def csv_header(names: list[str]) -> str:
    return ",".join(map(csv_cell, names)) + "\n"


def csv_line(row: dict[str, Any], **changes: str) -> str:
    """One record as a CSV line in feature order; ``changes`` replaces cells verbatim."""
    cells = {k: csv_cell(v) for k, v in row.items()}
    return ",".join({**cells, **changes}.values()) + "\n"


def test_csv_blank_and_space_cells_are_missing_values(
    client: FlaskClient, run: Run, row: dict[str, Any]
) -> None:
    numeric = first_numeric(run)
    blank = {**row, numeric: None}
    as_json = client.post("/predict", json={"instances": [blank, blank]}, headers=AUTH)
    as_csv = client.post(
        "/invocations",
        data=csv_line(row, **{numeric: ""}) + csv_line(row, **{numeric: "  "}),
        content_type="text/csv",
        headers=AUTH,
    )
    assert as_csv.status_code == 200
    assert json_of(as_csv) == json_of(as_json)


def csv_error_cases(run: Run, row: dict[str, Any]) -> dict[str, tuple[bytes, int, str]]:
    """The cases of ``test_csv_errors_name_the_row_and_column``; those about numbers
    only for a model with a numeric feature."""
    columns = run.model.spec.columns
    last = columns[-1]
    good, huge = csv_line(row), '"' + "x" * 140_000 + '"'  # the csv module stops at 128 KiB
    cases = {
        "a value too few": ((good + good.rsplit(",", 1)[0] + "\n").encode(), 422, "rows[1]"),
        "not utf-8": (good.encode() + b"\xff\n", 400, ""),
        "an unclosed quote": (good.encode() + csv_line(row, **{last: '"open'}).encode(), 400, ""),
        "a quoted cell over 128 KiB": (csv_line(row, **{last: huge}).encode(), 400, ""),
        "empty": (b"\n\n", 422, "rows"),
        "a header with an unknown column": (
            (csv_header([*columns, "colour"]) + good).encode(),
            422,
            "header.colour",
        ),
        "a header naming a column twice": (
            (csv_header([*columns, columns[0]]) + good).encode(),
            422,
            f"header.{columns[0]}",
        ),
        "a header missing a column": (
            (csv_header(columns[:-1]) + good).encode(),
            422,
            f"header.{last}",
        ),
    }
    if not run.model.spec.numeric:
        return cases
    numeric = run.model.spec.numeric[0]
    return cases | {
        "text in a numeric column": (
            csv_line(row, **{numeric: "heavy"}).encode(),
            422,
            f"rows[0].{numeric}",
        ),
        "nan written out": (
            (good + csv_line(row, **{numeric: "nan"})).encode(),
            422,
            f"rows[1].{numeric}",
        ),
        "an underscore in a number": (
            csv_line(row, **{numeric: "4_5.1"}).encode(),
            422,
            f"rows[0].{numeric}",
        ),
        "true in a numeric column": (  # pandas reads a column of only true as 1
            csv_line(row, **{numeric: "TRUE"}).encode(),
            422,
            f"rows[0].{numeric}",
        ),
        "digits other than ASCII": (  # float() reads Arabic-Indic and full-width digits
            (good + csv_line(row, **{numeric: "\u0661\u0662"})).encode(),
            422,
            f"rows[1].{numeric}",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "a value too few",
        "text in a numeric column",
        "nan written out",
        "not utf-8",
        "an underscore in a number",
        "true in a numeric column",
        "digits other than ASCII",
        "an unclosed quote",
        "a quoted cell over 128 KiB",
        "empty",
        "a header with an unknown column",
        "a header naming a column twice",
        "a header missing a column",
    ],
)
def test_csv_errors_name_the_row_and_column(
    client: FlaskClient, run: Run, row: dict[str, Any], case: str
) -> None:
    cases = csv_error_cases(run, row)
    if case not in cases:
        first_numeric(run)  # skips: the case is about a numeric feature
    body, status, field = cases[case]
    response = client.post("/invocations", data=body, content_type="text/csv", headers=AUTH)
    assert response.status_code == status
    error = json_of(response)["error"]
    assert error.get("field", "") == field
    assert field in error["message"]


def same_batch(first: Batch, second: Batch) -> bool:
    return (
        first.rows == second.rows
        and first.categorical == second.categorical
        and first.numeric.keys() == second.numeric.keys()
        and all(
            np.array_equal(values, second.numeric[name], equal_nan=True)
            for name, values in first.numeric.items()
        )
    )


def plain_bodies(run: Run, row: dict[str, Any]) -> dict[str, str]:
    """Plain CSV in the shapes clients send: every one takes pandas' parser. The shapes
    of numbers only for a model with a numeric feature."""
    good, header = csv_line(row), ",".join(run.model.spec.columns) + "\n"
    bodies = {
        "no header": good * 3,
        "header": header + good,
        "CRLF, no final newline": (good * 2).replace("\n", "\r\n").rstrip(),
        "from Excel": ("\ufeff" + header + good * 2).replace("\n", "\r\n"),
        "mark, no header": "\ufeff" + good,
    }
    if not run.model.spec.numeric:
        return bodies
    numeric = run.model.spec.numeric[0]
    odd_cells = {numeric: " 1.5e2 ", **dict.fromkeys(run.model.spec.categorical[:1], "  ")}
    return bodies | {
        "blank numeric": good + csv_line(row, **{numeric: ""}),
        "spaces around cells": csv_line(row, **odd_cells),
        "17 digits": csv_line(row, **{numeric: repr(0.1 + 0.2)}) + csv_line(row, **{numeric: "-0"}),
        "exponents": csv_line(row, **{numeric: "1E-3"}) + csv_line(row, **{numeric: "+.5"}),
    }


@pytest.mark.parametrize(
    "shape",
    [
        "no header",
        "header",
        "CRLF, no final newline",
        "blank numeric",
        "spaces around cells",
        "17 digits",
        "exponents",
        "from Excel",
        "mark, no header",
    ],
)
def test_plain_csv_takes_the_fast_parser_and_reads_the_same(run: Run, shape: str) -> None:
    """Plain CSV: no quotes, and no true or false, which pandas would read as numbers."""
    spec = run.model.spec
    if len(spec.columns) < 2:
        pytest.skip("the model takes one feature: a line without commas goes to the csv module")
    if shape in ("header", "from Excel") and re.search("true|false", ",".join(spec.columns), re.I):
        pytest.skip("a feature name holds 'true' or 'false': a header goes to the csv module")
    sent = records(run.test, run)
    plain = [r for r in sent if all(is_plain(v) for v in r.values())]
    # else the first, its cells that are not plain left blank (a yes/no column's True)
    row = plain[0] if plain else {k: v if is_plain(v) else None for k, v in sent[0].items()}
    bodies = plain_bodies(run, row)
    if shape not in bodies:
        first_numeric(run)  # skips: the shape is about numbers
    body = bodies[shape]
    fast = plain_csv(body.encode(), run.model.spec, 500)
    assert fast is not None, "plain CSV fell back to the csv module"
    expected = csv_module_batch(body.removeprefix("\ufeff"), run.model.spec, 500)
    assert same_batch(fast, expected)


def is_plain(value: Any) -> bool:
    """A cell of plain CSV: unquoted, and neither true nor false."""
    cell = csv_cell(value)
    return cell[:1] != '"' and not re.search("true|false", cell, re.I)


NUMBERS = ["", " ", "1", "-2.5", " 3e2 ", "0.30000000000000004", "-0"]
CATEGORIES = ["", " ", "Adelie", " Dream ", "nan", "1"]
ODD_CELLS = ["1_000", "nan", "1e999", "x", "a,b", '"q"', "true", "FALSE"]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_both_csv_parsers_agree_on_any_body(run: Run, data: st.DataObject) -> None:
    """Whatever the body, parse_csv answers as the csv module does: same batch or same error."""
    spec = run.model.spec
    kinds = [NUMBERS if name in spec.numeric else CATEGORIES for name in spec.columns]
    good = st.tuples(*map(st.sampled_from, kinds))
    odd = st.lists(st.sampled_from(NUMBERS + CATEGORIES + ODD_CELLS), max_size=len(kinds) + 1)
    line = good if data.draw(st.booleans()) else good | odd  # half the bodies are plain CSV
    lines = [",".join(cells) for cells in data.draw(st.lists(line, min_size=1, max_size=4))]
    if data.draw(st.booleans()):
        lines.insert(0, ",".join(spec.columns))
    body = data.draw(st.sampled_from(["\n", "\r\n"])).join(lines) + "\n"
    mark = data.draw(st.sampled_from(["", "\ufeff"]))  # a byte-order mark is not content

    def outcome(parse: Callable[[], Batch]) -> Batch | tuple[int, str]:
        try:
            return parse()
        except RequestError as error:
            return error.status, error.message

    got = outcome(lambda: parse_csv((mark + body).encode(), spec, 3))
    expected = outcome(lambda: csv_module_batch(body, spec, 3))
    if isinstance(expected, Batch):
        assert isinstance(got, Batch)
        assert same_batch(got, expected)
    else:
        assert got == expected


def test_model_card(client: FlaskClient, run: Run) -> None:
    body = json_of(client.get("/model", headers=AUTH))
    assert body["model_version"] == run.model.version
    assert [f["name"] for f in body["features"]] == run.model.spec.columns
    assert body["cv"]["scoring"]


def test_metrics_count_requests_and_predictions(client: FlaskClient, row: dict[str, Any]) -> None:
    client.post("/predict", json={"instances": [row, row]}, headers=AUTH)
    client.post("/predict", data="nope", content_type="application/json", headers=AUTH)
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    assert 'http_requests_total{method="POST",route="/predict",status="200"}' in text
    assert 'http_request_errors_total{route="/predict",status="400"}' in text
    assert "http_request_duration_seconds_bucket" in text
    assert "model_predictions_total" in text


def test_made_up_methods_cannot_add_metric_series(client: FlaskClient) -> None:
    for method in ("XSBARUTVV", "QWERTYUIOP", "ZZZ"):
        assert client.open("/predict", method=method).status_code == 401
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    assert 'http_requests_total{method="other",route="unmatched",status="401"} 3.0' in text
    assert "XSBARUTVV" not in text


def test_a_wrong_method_names_the_allowed_ones(client: FlaskClient) -> None:
    response = client.get("/predict", headers=AUTH)
    assert response.status_code == 405
    assert json_of(response)["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_every_response_has_a_request_id(client: FlaskClient) -> None:
    assert len(client.get("/ping").headers["X-Request-ID"]) == 32
    assert (
        client.get("/ping", headers={"X-Request-ID": "trace-42"}).headers["X-Request-ID"]
        == "trace-42"
    )
    error = client.post("/predict", json={}, headers=AUTH)
    assert json_of(error)["request_id"] == error.headers["X-Request-ID"]


# --------------------------------------------------------------------------- input errors


def _with(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**row, **changes}


def not_a_feature(run: Run) -> str:
    """A column name the model does not take."""
    name = "colour"
    while name in run.model.spec.columns:
        name += "_"
    return name


def error_cases(run: Run, row: dict[str, Any]) -> dict[str, tuple[Any, int, str]]:
    """The cases of ``test_invalid_records_name_the_field``; those about numbers only
    for a model with a numeric feature."""
    first, last = run.model.spec.columns[0], run.model.spec.columns[-1]
    columns = {name: [value] for name, value in row.items()}
    other = not_a_feature(run)
    cases: dict[str, tuple[Any, int, str]] = {
        "unknown field": (
            {"instances": [_with(row, **{other: "red"})]},
            422,
            f"instances[0].{other}",
        ),
        "missing field": (
            {"instances": [{k: v for k, v in row.items() if k != first}]},
            422,
            f"instances[0].{first}",
        ),
        "record not an object": ({"instances": [[1, 2, 3]]}, 422, "instances[0]"),
        "empty batch": ({"instances": []}, 422, "instances"),
        "no instances": ({"rows": [row]}, 422, "rows"),
        "too many rows": ({"instances": [row] * (MAX_ROWS + 1)}, 413, "instances"),
        "two shapes": ({"instances": [row], "columns": columns}, 422, "instances"),
        "unknown column": ({"columns": {**columns, other: ["red"]}}, 422, f"columns.{other}"),
        "a very long unknown field": (
            {"instances": [_with(row, **{"x" * 10_000: 1})]},
            422,
            f"instances[0].{'x' * 61}...",
        ),
        "a very long unknown shape": (
            {"y" * 10_000: [row]},
            422,
            f"{'y' * 61}...",
        ),
        "missing column": (
            {"columns": {k: v for k, v in columns.items() if k != first}},
            422,
            f"columns.{first}",
        ),
        "column not a list": ({"columns": {**columns, first: row[first]}}, 422, f"columns.{first}"),
        "columns of unequal length": (
            {"columns": {**columns, last: [row[last]] * 2}},
            422,
            f"columns.{last}",
        ),
        "too many rows as columns": (
            {"columns": {k: [v] * (MAX_ROWS + 1) for k, v in row.items()}},
            413,
            "columns",
        ),
    }
    if run.model.spec.numeric:
        numeric = run.model.spec.numeric[0]
        cases["wrong type"] = (
            {"instances": [_with(row, **{numeric: "heavy"})]},
            422,
            f"instances[0].{numeric}",
        )
        cases["boolean as number"] = (
            {"instances": [_with(row, **{numeric: True})]},
            422,
            f"instances[0].{numeric}",
        )
        cases["wrong type in a column"] = (
            {"columns": {**columns, numeric: ["heavy"]}},
            422,
            f"columns.{numeric}[0]",
        )
    if run.model.spec.categorical:
        category = run.model.spec.categorical[0]
        cases["object as category"] = (
            {"instances": [_with(row, **{category: {"a": 1}})]},
            422,
            f"instances[0].{category}",
        )
    return cases


@pytest.mark.parametrize(
    "case",
    [
        "unknown field",
        "missing field",
        "wrong type",
        "boolean as number",
        "record not an object",
        "empty batch",
        "no instances",
        "too many rows",
        "two shapes",
        "unknown column",
        "a very long unknown field",
        "a very long unknown shape",
        "missing column",
        "column not a list",
        "columns of unequal length",
        "wrong type in a column",
        "too many rows as columns",
        "object as category",
    ],
)
def test_invalid_records_name_the_field(
    client: FlaskClient, run: Run, row: dict[str, Any], case: str
) -> None:
    cases = error_cases(run, row)
    if case == "object as category":
        first_categorical(run)  # skips: the case needs a feature of that kind
    elif case not in cases:
        first_numeric(run)
    body, status, field = cases[case]
    response = client.post("/predict", json=body, headers=AUTH)
    assert response.status_code == status
    error = json_of(response)["error"]
    assert error["field"] == field
    assert field in error["message"]
    assert len(response.get_data()) < 500, "the error must not echo the payload or the schema"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_rejected(
    client: FlaskClient, run: Run, row: dict[str, Any], literal: str
) -> None:
    numeric = first_numeric(run)
    marker = 123456.789  # a number no record holds, replaced by the literal
    body = json.dumps({"instances": [_with(row, **{numeric: marker})]})
    body = body.replace(str(marker), literal, 1)
    response = client.post("/predict", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code in (400, 422)
    assert json_of(response)["error"]["code"] in ("malformed_json", "invalid_input")


def test_an_infinite_number_from_an_in_process_caller_is_named(
    run: Run, row: dict[str, Any]
) -> None:
    """JSON cannot carry infinity, but a Python caller of the parser can: the error names
    the record and the feature, wherever in the batch they are."""
    first_numeric(run)  # skips without a numeric feature
    numeric = run.model.spec.numeric[-1]
    sent = [row, row, _with(row, **{numeric: -math.inf})]
    with pytest.raises(RequestError) as raised:
        records_to_batch(sent, run.model.spec)
    assert raised.value.field == f"instances[2].{numeric}"
    assert "finite" in raised.value.message


def test_missing_values_are_allowed_as_null(
    client: FlaskClient, run: Run, row: dict[str, Any]
) -> None:
    blank = dict.fromkeys(row)
    response = client.post("/predict", json={"instances": [blank]}, headers=AUTH)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        ("a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (None, "application/json", 413, "request_entity_too_large"),  # 1.5 times the limit
    ],
    ids=["malformed", "content-type", "body-size"],
)
def test_body_errors(
    client: FlaskClient,
    max_body_bytes: int,
    data: str | None,
    content_type: str,
    status: int,
    code: str,
) -> None:
    body = "x" * (max_body_bytes * 3 // 2) if data is None else data
    response = client.post("/predict", data=body, content_type=content_type, headers=AUTH)
    assert response.status_code == status
    assert json_of(response)["error"]["code"] == code


@pytest.mark.parametrize(
    ("accept", "answer"),
    [
        ("application/xml", None),
        ("application/json, text/plain, */*", "application/json"),
        ("text/csv;q=0, application/json", "application/json"),
        ("text/csv;q=0.9, application/json", "application/json"),
        ("text/*", "text/csv"),
        ("application/jsonlines", "application/jsonlines"),
        ("application/jsonlines, text/csv;q=0.5", "application/jsonlines"),
        ("*/*", "application/json"),
        ("", "application/json"),
        ("text/csv; charset=utf-8", "text/csv"),
        ("application/json; charset=utf-8;q=0.5, text/csv;header=present", "text/csv"),
        ("Application/JSONLines", "application/jsonlines"),
    ],
)
def test_invocations_answer_in_the_best_accepted_type(
    client: FlaskClient, row: dict[str, Any], accept: str, answer: str | None
) -> None:
    response = client.post(
        "/invocations", json={"instances": [row]}, headers={**AUTH, "Accept": accept}
    )
    if answer is None:
        assert response.status_code == 406
        assert json_of(response)["error"]["code"] == "not_acceptable"
    else:
        assert response.status_code == 200
        assert response.mimetype == answer


@pytest.mark.parametrize("header", ["Content-Encoding", "Transfer-Encoding"])
def test_compressed_bodies_are_refused_with_415(
    client: FlaskClient, row: dict[str, Any], header: str
) -> None:
    import gzip

    response = client.post(
        "/predict",
        data=gzip.compress(json.dumps({"instances": [row]}).encode()),
        content_type="application/json",
        headers={**AUTH, header: "gzip"},
    )
    assert response.status_code == 415
    assert header in json_of(response)["error"]["message"]


def test_a_number_too_large_for_a_double_is_named(
    client: FlaskClient, run: Run, row: dict[str, Any]
) -> None:
    numeric = first_numeric(run)
    key = json.dumps(numeric)  # the name as JSON writes it
    body = json.dumps({"instances": [{**row, numeric: 0}]}).replace(f"{key}: 0", f"{key}: 1e400")
    response = client.post("/predict", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code == 422
    assert json_of(response)["error"]["field"] == f"instances[0].{numeric}"


@pytest.mark.parametrize(
    ("value", "status", "says"),
    [
        ("NaN", 400, "NaN is not a JSON number"),
        ("Infinity", 400, "Infinity is not a JSON number"),
        ("1" * 400, 422, "finite"),  # valid JSON, beyond a double like 1e400
        ('"\\ud800"', 400, "surrogate"),
        ("[" * 5000 + "]" * 5000, 400, "nested too deeply"),
        ("1 <cut>", 400, "not valid JSON"),
    ],
    ids=["NaN", "Infinity", "huge integer", "lone surrogate", "deep nesting", "truncated"],
)
def test_a_body_with_a_huge_number_is_held_to_every_other_rule(
    client: FlaskClient, run: Run, row: dict[str, Any], value: str, status: int, says: str
) -> None:
    """1e400 anywhere sends the body through the json module, which is laxer than
    orjson: it must refuse what orjson refuses, and never answer 500. Here 1e400 is
    the first of two values of one field; the second, the one tested, wins."""
    numeric = first_numeric(run)
    key = json.dumps(numeric)
    fields = f"{key}: 1e400, {key}: {value.removesuffix(' <cut>')}"
    body = json.dumps({"instances": [{**row, numeric: 0}]}).replace(f"{key}: 0", fields)
    if value.endswith("<cut>"):
        body = body[: body.index(fields) + len(fields)]
    response = client.post("/predict", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code == status, json_of(response)
    assert says in json_of(response)["error"]["message"]


def test_a_body_in_another_encoding_is_told_json_is_utf8(
    client: FlaskClient, row: dict[str, Any]
) -> None:
    body = json.dumps({"instances": [{**row, "é": 1}]}, ensure_ascii=False).encode("latin-1")
    response = client.post(
        "/predict", data=body, content_type="application/json; charset=latin-1", headers=AUTH
    )
    assert response.status_code == 400
    assert "not UTF-8 text" in json_of(response)["error"]["message"]


def test_a_boolean_category_is_read_as_training_wrote_it() -> None:
    from {{ cookiecutter.package_name }}.data_processing.validation import (
        FeatureSpec,
        as_category_strings,
    )

    trained = as_category_strings(pd.Series([True, False])).tolist()
    spec = FeatureSpec.ordered(["x"], ["flag"], ["x", "flag"])
    batch = records_to_batch([{"x": 1.0, "flag": True}, {"x": 2.0, "flag": False}], spec)
    assert batch.categorical["flag"] == trained == ["True", "False"]


def test_flag_text_is_read_as_pandas_read_the_training_file() -> None:
    """pandas reads a CSV column of true/TRUE/True as booleans, which train as "True":
    a feature the model learnt as true/false takes those spellings at the API too."""
    from {{ cookiecutter.package_name }}.data_processing.validation import FeatureSpec
    from {{ cookiecutter.package_name }}.model.artifact import LoadedModel

    features = [
        {"name": "x", "kind": "numeric"},
        {"name": "flag", "kind": "categorical", "categories": ["False", "True"]},
        {"name": "word", "kind": "categorical", "categories": ["true", "maybe"]},
    ]
    spec = LoadedModel(pipeline=Pipeline([]), metadata={"features": features}).spec
    assert spec.flags == {"flag"}
    sent = ["true", "TRUE", " False ", True, None]
    expected = ["True", "True", "False", "True", None]
    records = [{"x": 1.0, "flag": value, "word": "true"} for value in sent]
    batch = records_to_batch(records, spec)
    assert batch.categorical["flag"] == expected
    assert batch.categorical["word"] == ["true"] * len(sent)  # text, not a flag
    body = "".join(f"1.0,{'' if v is None else v},true\n" for v in sent).encode()
    assert parse_csv(body, spec, 100).categorical["flag"] == expected
    frame = pd.DataFrame({"x": 1.0, "flag": sent, "word": "true"})
    assert spec.coerce(frame)["flag"].tolist()[:4] == expected[:4]
    assert FeatureSpec(["x"], ["flag"], ["x", "flag"]).coerce(frame)["flag"][0] == "true"


def test_category_text_is_read_as_training_read_it(
    client: FlaskClient, run: Run, row: dict[str, Any]
) -> None:
    """Surrounding spaces are dropped and blank text or a missing-value marker ("NA",
    "null": what reading the training file made missing) is missing, in JSON and CSV."""
    name = first_categorical(run)
    schema = next(f for f in run.model.metadata["features"] if f["name"] == name)
    category = schema["categories"][-1]

    def predict(record: dict[str, Any]) -> Any:
        return json_of(client.post("/predict", json={"instances": [record]}, headers=AUTH))

    known, missing = predict({**row, name: category}), predict({**row, name: None})
    for sent, expected in (({**row, name: f"  {category} "}, known), ({**row, name: ""}, missing)):
        as_json = client.post("/predict", json={"instances": [sent]}, headers=AUTH)
        as_csv = client.post(
            "/invocations", data=csv_line(sent), content_type="text/csv", headers=AUTH
        )
        assert json_of(as_json)["predictions"] == expected["predictions"]
        assert json_of(as_csv)["predictions"] == expected["predictions"]
    for marker in ("NA", " null ", "?"):
        sent = {**row, name: marker}
        as_json = client.post("/predict", json={"instances": [sent]}, headers=AUTH)
        as_csv = client.post(
            "/invocations", data=csv_line(sent), content_type="text/csv", headers=AUTH
        )
        assert json_of(as_json) == json_of(as_csv) == missing, marker


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=json_values, mutate=st.dictionaries(st.text(max_size=12), json_values, max_size=3))
def test_fuzzed_bodies_never_cause_a_server_error(
    client: FlaskClient, row: dict[str, Any], body: Any, mutate: dict[str, Any]
) -> None:
    columns = {name: [value] for name, value in {**row, **mutate}.items()}
    for payload in (
        body,
        {"instances": [{**row, **mutate}]},
        {"instances": body},
        {"columns": body},
        {"columns": columns},
    ):
        response = client.post(
            "/predict", data=json.dumps(payload), content_type="application/json", headers=AUTH
        )
        assert response.status_code < 500, response.get_data(as_text=True)


# --------------------------------------------------------------------------- OpenAPI


def test_openapi_document_is_valid_and_lists_every_route(app: Flask, client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    document = json_of(client.get("/openapi.json", headers=AUTH))
    validate(document)
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert routes == set(document["paths"])
    for path, operations in document["paths"].items():
        for method in operations:
            rule = next(r for r in app.url_map.iter_rules() if r.rule == path)
            assert method.upper() in (rule.methods or ()), f"{method} {path}"


def test_openapi_request_schema_accepts_real_records(client: FlaskClient, run: Run) -> None:
    import jsonschema

    document = json_of(client.get("/openapi.json", headers=AUTH))
    schema = {
        **document["components"]["schemas"]["PredictRequest"],
        "components": document["components"],
    }
    sent = records(run.test.head(3), run)
    columns = {name: [record[name] for record in sent] for name in run.model.spec.columns}
    jsonschema.validate({"instances": sent}, schema)
    jsonschema.validate({"columns": columns}, schema)
    jsonschema.validate(sent, schema)
    assert client.post("/predict", json=sent, headers=AUTH).status_code == 200
    for refused in (
        {"instances": [{not_a_feature(run): "red"}]},
        {"columns": {**columns, not_a_feature(run): ["red"]}},
        {"instances": sent, "columns": columns},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(refused, schema)
        assert client.post("/predict", json=refused, headers=AUTH).status_code == 422


# --------------------------------------------------------------------------- real server


def http(
    url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


@pytest.mark.slow
class TestServer:
    def test_auth_over_http(self, server: str, row: dict[str, Any]) -> None:
        assert http(f"{server}/ping")[0] == 200
        assert http(f"{server}/predict", {"instances": [row]})[0] == 401
        assert (
            http(f"{server}/predict", {"instances": [row]}, {"X-API-Key": "wrong-key-0123456789"})[
                0
            ]
            == 401
        )
        assert http(f"{server}/predict", {"instances": [row]}, AUTH)[0] == 200

    def test_http_predictions_equal_in_process_predictions(self, server: str, run: Run) -> None:
        status, body, headers = http(
            f"{server}/invocations", {"instances": records(run.test, run)}, AUTH
        )
        assert status == 200
        assert headers["X-Request-ID"]
        expected = run.model.predict(run.test)
        if run.params.is_classifier:
            assert body["predictions"] == list(expected)
        else:
            assert np.allclose(body["predictions"], expected)

    def test_metrics_add_up_across_workers(self, server: str, row: dict[str, Any]) -> None:
        for _ in range(6):
            http(f"{server}/predict", {"instances": [row]}, AUTH)
        request = urllib.request.Request(f"{server}/metrics", headers=AUTH)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        counts = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('http_requests_total{method="POST",route="/predict",status="200"}')
        ]
        assert counts
        assert counts[0] >= 6

    def test_a_chunked_body_over_the_limit_is_refused_not_cut(
        self, server: str, row: dict[str, Any]
    ) -> None:
        """Werkzeug stops reading a chunked body at the limit; the rest must not be lost."""
        import http.client
        from urllib.parse import urlsplit

        limit = Settings().max_body_bytes
        record = json.dumps({"instances": [row]}).encode()
        for padding, status in ((1000, 200), (limit, 413)):
            connection = http.client.HTTPConnection(urlsplit(server).netloc, timeout=30)
            chunks = [record[:-1], b" " * padding, b"}"]  # whitespace is valid JSON padding
            connection.request(
                "POST",
                "/predict",
                body=iter(chunks),
                headers={**AUTH, "Content-Type": "application/json"},
                encode_chunked=True,
            )
            response = connection.getresponse()
            assert response.status == status, response.read()[:300]
            connection.close()

    def test_each_request_logs_one_json_line_with_its_id(
        self, server: str, server_log: Path, row: dict[str, Any]
    ) -> None:
        traced = {**AUTH, "X-Request-ID": "trace-one-line"}
        assert http(f"{server}/predict", {"instances": [row]}, traced)[0] == 200
        text = server_log.read_text()
        lines = [json.loads(line) for line in text.splitlines() if "trace-one-line" in line]
        assert len(lines) == 1, lines
        assert lines[0]["request_id"] == "trace-one-line"
        assert (lines[0]["route"], lines[0]["status"], lines[0]["rows"]) == ("/predict", 200, 1)
        assert "gunicorn.access" not in text  # the app's line is the access log


@pytest.mark.slow
def test_warnings_reach_the_log_as_json_lines() -> None:
    """NumPy's overflow warning on an absurd input, say: one JSON object like any line."""
    code = (
        "import warnings\n"
        "from {{ cookiecutter.package_name }}.log import configure_logging\n"
        "configure_logging('INFO', 'json')\n"
        "warnings.warn('overflow encountered in subtract', RuntimeWarning)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(lines) == 1, done.stderr
    assert lines[0]["level"] == "WARNING"
    assert "overflow encountered in subtract" in lines[0]["message"]


def test_log_level_reaches_the_workers(run: Run, tmp_path: Path, row: dict[str, Any]) -> None:
    log = tmp_path / "server.log"
    with serving(run, log, LOG_LEVEL="WARNING") as url:
        assert http(f"{url}/predict", {"instances": [row]}, AUTH)[0] == 200
    assert '"INFO"' not in log.read_text()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({}, "{model_dir}/metadata.json: not found; train a model first (make pipeline)"),
        (
            {"LOG_LEVEL": "verbose"},
            "setting LOG_LEVEL='verbose': must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
    ],
    ids=["no model", "unknown log level"],
)
def test_service_refuses_to_start_in_one_line(
    tmp_path: Path, env: dict[str, str], line: str
) -> None:
    """``python -m ...serve``, as the image and ``make serve`` start it; nothing is left
    behind in its temporary folder."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "MODEL_DIR": str(tmp_path),
        "API_KEYS": API_KEY,
        "TMPDIR": str(scratch),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}.serve", "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {line.format(model_dir=tmp_path)}"]
    assert not list(scratch.iterdir())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORKERS": "0"}, "WORKERS=0: must be at least 1"),
        ({"THREADS": "0"}, "THREADS=0: must be at least 1"),
        ({"PORT": "99999"}, "PORT=99999: must be between 1 and 65535"),
        ({"TIMEOUT": "-5"}, r"TIMEOUT=-5: must be 0 \(no timeout\) or more"),
        ({"MAX_ROWS": "0"}, "MAX_ROWS=0: must be at least 1"),
        ({"MAX_BODY_BYTES": "-1"}, "MAX_BODY_BYTES=-1: must be at least 1"),
    ],
)
def test_settings_the_server_cannot_run_with_stop_start_up(
    run: Run, env: dict[str, str], message: str
) -> None:
    settings = Settings.from_env({"API_KEYS": API_KEY, **env}, dotenv=Path("/nonexistent"))
    with pytest.raises(ConfigError, match=message):
        create_app(settings, model=run.model)
