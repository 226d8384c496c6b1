"""The HTTP API, built by an application factory and served by gunicorn in production.

Routes: ``/ping`` and ``/health`` (open), ``/predict``, ``/invocations`` (the
SageMaker inference route), ``/model``, ``/metrics`` and ``/openapi.json``.
Every response carries an ``X-Request-ID``; every error is a JSON body with a
code, a message naming the field and the rule, and the request id.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
import time
from typing import Any

import numpy as np
import orjson
from flask import Flask, Request, Response, g, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..config import MEBIBYTE, Settings
from ..errors import ConfigError
from ..log import request_id
from ..model.artifact import LoadedModel, load_model
from ..monitoring.prediction_log import PredictionLog
from .auth import KeyStore, presented_key
from .inputs import JSON_LINES, Batch, RequestError, parse_csv, parse_json, parse_jsonlines
from .metrics import Metrics
from .openapi import build_spec
from .predictor import Predictor

# Open: health checks, and what SageMaker calls itself, without custom headers.
OPEN_ROUTES = frozenset({"/ping", "/health", "/execution-parameters"})
ANSWER_TYPES = ("application/json", "text/csv", JSON_LINES)  # of /invocations, by preference
PARSERS = {"application/json": parse_json, "text/csv": parse_csv, JSON_LINES: parse_jsonlines}
PLAIN_TRANSFER = frozenset({"chunked", "identity"})
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

log = logging.getLogger(__name__)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status, mimetype="application/json"
    )


def jsonlines_response(result: dict[str, Any]) -> Response:
    """One JSON object per record: its prediction and, for a classifier, the
    probability of each class by name. Each array goes through orjson once, not once
    per record: half the time at 10,000 records."""
    predictions = result["predictions"]
    if "probabilities" not in result:
        lines = [b'{"prediction":' + value + b"}\n" for value in number_rows(predictions)]
        return Response(b"".join(lines), 200, mimetype=JSON_LINES)
    labels = predictions.tolist() if isinstance(predictions, np.ndarray) else predictions
    text = {label: orjson.dumps(label) for label in set(labels)}
    keys = [orjson.dumps(str(name)) + b":" for name in result["classes"]]
    lines = [
        b'{"prediction":'
        + text[label]
        + b',"probabilities":{'
        + b",".join(map(bytes.__add__, keys, row.split(b",")))
        + b"}}\n"
        for label, row in zip(labels, number_rows(result["probabilities"]), strict=True)
    ]
    return Response(b"".join(lines), 200, mimetype=JSON_LINES)


def number_rows(values: Any) -> list[bytes]:
    """Each element (1-d) or row (2-d) of a numeric array as JSON text, from one orjson
    call split where the elements end: JSON numbers hold no commas or brackets."""
    text = orjson.dumps(np.asarray(values), option=orjson.OPT_SERIALIZE_NUMPY)
    return text[1:-1].split(b",") if np.ndim(values) == 1 else text[2:-2].split(b"],[")


def error_response(error: RequestError) -> Response:
    return json_response({**error.body(), "request_id": g.get("request_id")}, error.status)


UNAUTHORIZED = RequestError(
    401, "unauthorized", "missing or invalid API key (X-API-Key or Authorization: Bearer)"
)


def unproxied(proxy: Any) -> Any:
    """The object behind one of Flask's context proxies (``request``, ``g``).

    Each attribute read through a proxy looks the context up again; the hooks below
    run on every request and read a dozen attributes, so they bind the objects once.
    """
    return proxy._get_current_object()


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def answer_type(wanted: MIMEAccept) -> str | None:
    """The answer type for an Accept header; None where it allows none of ours.

    Parameters other than q do not narrow the choice: "text/csv; charset=utf-8" is
    CSV (Werkzeug would match them exactly and find nothing).
    """
    if not wanted:  # no Accept header: JSON
        return ANSWER_TYPES[0]
    return MIMEAccept([(media_type(value), quality) for value, quality in wanted]).best_match(
        ANSWER_TYPES
    )


def encoded(environ: dict[str, Any]) -> bool:
    """Whether the body comes compressed: a Content-Encoding, or a Transfer-Encoding
    other than chunked (gunicorn undoes the chunking, not a gzip)."""
    if environ.get("HTTP_CONTENT_ENCODING", "identity").lower() != "identity":
        return True
    transfer: str = environ.get("HTTP_TRANSFER_ENCODING", "")
    return bool(transfer) and not PLAIN_TRANSFER.issuperset(
        coding.strip().lower() for coding in transfer.split(",")
    )


def create_app(settings: Settings | None = None, model: LoadedModel | None = None) -> Flask:
    """Build the app; the model loads here, once, and a bad model or setting stops start-up."""
    settings = settings or Settings.from_env()
    settings.check_serving()
    keys = KeyStore.from_settings(settings)
    auth_enabled = not settings.allow_unauthenticated
    if keys and not auth_enabled:
        raise ConfigError(
            "ALLOW_UNAUTHENTICATED=true turns off the API keys that are set "
            "(API_KEYS, API_KEYS_FILE); unset one or the other"
        )
    if auth_enabled and not keys and settings.invocations_auth != "iam":
        raise ConfigError(
            "no API keys configured: set API_KEYS or API_KEYS_FILE "
            "(or ALLOW_UNAUTHENTICATED=true, for local development only)"
        )
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    if model is None and settings.model_uri:  # from the registry, checked like a folder
        from ..model.registry import load_registered_model

        model = load_registered_model(settings.model_uri, settings.mlflow_tracking_uri)
{%- endif %}
    model = model or load_model(settings.model_dir)
    predictor = Predictor(model)
    metrics = Metrics()
    prediction_log = PredictionLog.from_settings(settings)  # None unless PREDICTION_LOG_DIR
    invocations_need_key = auth_enabled and settings.invocations_auth == "api-key"
    openapi = orjson.dumps(
        build_spec(model, invocations_need_key=invocations_need_key, auth_enabled=auth_enabled)
    )
    card = orjson.dumps({**model.metadata, "metrics": model.metrics})

    app = Flask(__name__)
    # One byte over the limit: Werkzeug ends a chunked body at this length without an
    # error, so read_body() must be able to see that there was more.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1

    def read_body(req: Request) -> bytes:
        if encoded(req.environ):
            raise RequestError(
                415,
                "unsupported_media_type",
                "send the body uncompressed (no Content-Encoding; Transfer-Encoding chunked only)",
            )
        body = req.get_data(cache=False)
        if len(body) > settings.max_body_bytes:
            raise RequestEntityTooLarge()
        return body

    def needs_key(path: str) -> bool:
        if not auth_enabled or path in OPEN_ROUTES:
            return False
        return path != "/invocations" or invocations_need_key

    @app.before_request
    def authenticate() -> Response | None:
        state = unproxied(g)
        req: Request = unproxied(request)
        state.started = time.perf_counter()
        incoming = req.headers.get("X-Request-ID", "")
        # 128 random bits as 32 hex digits, like uuid4().hex at a fifth of its cost.
        state.request_id = incoming if REQUEST_ID.match(incoming) else secrets.token_hex(16)
        state.rows = 0
        request_id.set(state.request_id)
        if needs_key(req.path) and not keys.verify(presented_key(req.headers)):
            response = error_response(UNAUTHORIZED)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return None

    @app.after_request
    def record(response: Response) -> Response:
        state = unproxied(g)
        req: Request = unproxied(request)
        elapsed = time.perf_counter() - state.get("started", time.perf_counter())
        route = req.url_rule.rule if req.url_rule else "unmatched"
        status = response.status_code
        response.headers["X-Request-ID"] = state.get("request_id", "")
        metrics.observe(route, req.method, status, elapsed)
        log.info(
            "%s %s %d",
            req.method,
            req.path,
            status,
            extra={
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "rows": state.get("rows", 0),
            },
        )
        request_id.set(None)
        return response

    @app.errorhandler(RequestError)
    def request_error(error: RequestError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = (error.name or "error").lower().replace(" ", "_")
        message = {
            413: f"body exceeds {settings.max_body_bytes} bytes",
            404: "no such route; see /openapi.json",
        }.get(error.code or 500, error.description or code)
        response = error_response(RequestError(error.code or 500, code, message))
        for name, value in error.get_headers():  # Allow on a 405, for one
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(
            RequestError(500, "internal_error", "internal error; see the server log")
        )

    predicted_rows = metrics.predictions.labels(model.version)

    def run(batch: Batch) -> dict[str, Any]:
        state = unproxied(g)
        state.rows = batch.rows
        result = predictor.predict(batch)
        predicted_rows.inc(batch.rows)
        if prediction_log is not None and prediction_log.sampled():
            prediction_log.record(batch, result["predictions"], model.version, state.request_id)
        return {**result, "model_version": model.version}

    @app.get("/ping")
    def ping() -> Response:
        return json_response({"status": "ok", "model_version": model.version})

    @app.get("/health")
    def health() -> Response:
        return json_response({"status": "alive"})

    @app.get("/execution-parameters")
    def execution_parameters() -> Response:
        # SageMaker batch transform asks before its first /invocations: as many requests
        # at once as there are workers and threads, records batched up to our body limit.
        return json_response(
            {
                "MaxConcurrentTransforms": settings.workers * settings.threads,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": max(1, settings.max_body_bytes // MEBIBYTE),
            }
        )

    @app.post("/predict")
    def predict() -> Response:
        if media_type(request.content_type) != "application/json":
            raise RequestError(415, "unsupported_media_type", "send Content-Type: application/json")
        body = read_body(request)
        return json_response(run(parse_json(body, model.spec, settings.max_rows)))

    @app.post("/invocations")
    def invocations() -> Response:
        content_type = media_type(request.content_type)
        accept = answer_type(request.accept_mimetypes)
        if accept is None:
            raise RequestError(
                406, "not_acceptable", f"Accept must allow one of {', '.join(ANSWER_TYPES)}"
            )
        body = read_body(request)
        parse = PARSERS.get(content_type)
        if parse is None:
            raise RequestError(415, "unsupported_media_type", f"send one of {', '.join(PARSERS)}")
        result = run(parse(body, model.spec, settings.max_rows))
        if accept == "text/csv":
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows([p] for p in result["predictions"])
            return Response(out.getvalue(), 200, mimetype="text/csv")
        if accept == JSON_LINES:
            return jsonlines_response(result)
        return json_response(result)

    @app.get("/model")
    def model_card() -> Response:
        return Response(card, 200, mimetype="application/json")

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(), 200, content_type=metrics.content_type)

    @app.get("/openapi.json")
    def openapi_document() -> Response:
        return Response(openapi, 200, mimetype="application/json")

    log.info("serving model %s (auth %s)", model.version, "on" if auth_enabled else "OFF")
    return app
