"""The OpenAPI 3.1 description, generated from the model's feature schema.

The tests check it against the running app: every route is listed, and the
documented statuses and bodies are the ones the routes return.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..model.artifact import LoadedModel
from .inputs import JSON_LINES

JSON = "application/json"


def feature_schemas(model: LoadedModel) -> dict[str, Any]:
    """One JSON schema per feature, in the model card's order."""
    schemas: dict[str, Any] = {}
    for feature in model.metadata["features"]:
        if feature["kind"] == "numeric":
            schema: dict[str, Any] = {"type": ["number", "null"]}
            if feature.get("min") is not None:
                schema["examples"] = [feature["min"], feature["max"]]
        else:
            schema = {
                "type": ["string", "number", "boolean", "null"],
                "examples": feature["categories"][:5],
            }
        schemas[feature["name"]] = schema
    return schemas


def instance_schema(model: LoadedModel) -> dict[str, Any]:
    properties = feature_schemas(model)
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        "description": "One record: every feature, null where the value is unknown.",
    }


def columns_schema(model: LoadedModel) -> dict[str, Any]:
    properties = {
        name: {"type": "array", "minItems": 1, "items": schema}
        for name, schema in feature_schemas(model).items()
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        "description": (
            "The same rows, one list per feature, all of one length: "
            "several times faster to parse and check than records for large batches."
        ),
    }


def build_spec(
    model: LoadedModel, *, invocations_need_key: bool, auth_enabled: bool
) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}

    def failure(description: str) -> dict[str, Any]:
        return {"description": description, "content": {JSON: {"schema": error}}}

    errors = {
        str(status): failure(text)
        for status, text in (
            (400, "Malformed body"),
            (413, "Body or batch over the limit"),
            (415, "Unsupported content type, or a compressed body"),
            (422, "A record breaks the feature schema"),
        )
    }
    unauthorized = {"401": failure("Missing or wrong API key")}
    secured: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}] if auth_enabled else []
    predict_body = {
        "required": True,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
    }
    prediction = {
        "description": "Predictions",
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Prediction"}}},
    }

    def status(**properties: Any) -> dict[str, Any]:
        schema = {"type": "object", "required": list(properties), "properties": properties}
        return {JSON: {"schema": schema}}

    def op(
        summary: str, responses: dict[str, Any], *, secure: bool = True, **extra: Any
    ) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": {**responses, **(unauthorized if secure and auth_enabled else {})},
        }
        operation["security"] = secured if secure else []
        return {**operation, **extra}

    paths = {
        "/ping": {
            "get": op(
                "Health check (SageMaker): 200 when the model is loaded",
                {
                    "200": {
                        "description": "Ready",
                        "content": status(status={"const": "ok"}, model_version={"type": "string"}),
                    }
                },
                secure=False,
            )
        },
        "/health": {
            "get": op(
                "Liveness",
                {"200": {"description": "Alive", "content": status(status={"const": "alive"})}},
                secure=False,
            )
        },
        "/execution-parameters": {
            "get": op(
                "SageMaker batch transform: concurrency, batching and payload size",
                {
                    "200": {
                        "description": "What the container handles",
                        "content": status(
                            MaxConcurrentTransforms={"type": "integer", "minimum": 1},
                            BatchStrategy={"const": "MULTI_RECORD"},
                            MaxPayloadInMB={"type": "integer", "minimum": 1},
                        ),
                    }
                },
                secure=False,
            )
        },
        "/predict": {
            "post": op(
                "Predict a batch of records",
                {"200": prediction, **errors},
                requestBody=predict_body,
            )
        },
        "/invocations": {
            "post": op(
                "SageMaker inference: JSON, CSV or JSON Lines in and out (Accept)",
                {
                    "200": {
                        "description": "Predictions",
                        "content": {
                            JSON: {"schema": {"$ref": "#/components/schemas/Prediction"}},
                            "text/csv": {"schema": {"type": "string"}},
                            JSON_LINES: {
                                "schema": {
                                    "type": "string",
                                    "description": "One object per record: prediction, and "
                                    "for a classifier probabilities by class",
                                }
                            },
                        },
                    },
                    **errors,
                    "406": failure("Accept allows none of JSON, CSV and JSON Lines"),
                },
                secure=invocations_need_key,
                requestBody={
                    "required": True,
                    "content": {
                        JSON: {"schema": {"$ref": "#/components/schemas/PredictRequest"}},
                        "text/csv": {
                            "schema": {
                                "type": "string",
                                "description": "Rows in feature order, or in the order "
                                "of an optional header row naming each feature once",
                            }
                        },
                        JSON_LINES: {
                            "schema": {
                                "type": "string",
                                "description": "One record object per line",
                            }
                        },
                    },
                },
            )
        },
        "/model": {
            "get": op(
                "Model card: version, metrics, feature schema",
                {
                    "200": {
                        "description": "Model metadata",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            )
        },
        "/metrics": {
            "get": op(
                "Prometheus metrics",
                {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            )
        },
        "/openapi.json": {
            "get": op(
                "This document",
                {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            )
        },
    }
    prediction_schema: dict[str, Any] = {
        "type": "object",
        "required": ["predictions", "model_version"],
        "properties": {
            "predictions": {"type": "array"},
            "model_version": {"type": "string"},
        },
    }
    if model.is_classifier:
        prediction_schema["properties"]["classes"] = {"type": "array"}
        prediction_schema["properties"]["probabilities"] = {
            "type": "array",
            "items": {"type": "array", "items": {"type": "number"}},
            "description": "Per record, one probability per entry of classes.",
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Model API",
            "version": __version__,
            "description": (
                f"Serves model {model.version}: {model.metadata['task']} "
                f"of {model.metadata['target']!r}."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Instance": instance_schema(model),
                "Columns": columns_schema(model),
                "PredictRequest": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["instances"],
                            "additionalProperties": False,
                            "properties": {
                                "instances": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"$ref": "#/components/schemas/Instance"},
                                }
                            },
                        },
                        {
                            "type": "object",
                            "required": ["columns"],
                            "additionalProperties": False,
                            "properties": {"columns": {"$ref": "#/components/schemas/Columns"}},
                        },
                        {
                            "description": "A bare list of records, as instances",
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/Instance"},
                        },
                    ]
                },
                "Prediction": prediction_schema,
                "Error": {
                    "type": "object",
                    "required": ["error", "request_id"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string"},
                            },
                        },
                        "request_id": {"type": "string"},
                    },
                },
            },
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
