"""Smoke-test a running service: ``python -m <package>.serve.smoke --url http://host:8080``.

Asks ``/model`` for the feature schema, sends one plausible record to
``/invocations`` (or ``--route``) and checks a prediction comes back. Used by
``make docker-smoke``, the workflows and after a deployment. The API key, when
one is needed, comes from the ``API_KEY`` environment variable, never an argument.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from ..errors import UserError
from ..log import configure_logging

log = logging.getLogger(__name__)


class SmokeTestError(UserError):
    """The service did not answer as expected."""


def sample_record(features: list[dict[str, Any]]) -> dict[str, Any]:
    """A record in the middle of the training data: mid-range numbers, first categories."""
    record: dict[str, Any] = {}
    for feature in features:
        if feature["kind"] == "numeric":
            low, high = feature.get("min"), feature.get("max")
            record[feature["name"]] = None if low is None else (low + high) / 2
        else:
            categories = feature.get("categories") or [None]
            record[feature["name"]] = categories[0]
    return record


def call(url: str, body: Any = None, key: str | None = None, timeout: float = 10) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:200]
        raise SmokeTestError(f"{url}: HTTP {error.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise SmokeTestError(f"{url}: no answer ({error})") from None


def wait_until_up(base: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            call(f"{base}/ping", timeout=2)
            return
        except SmokeTestError:
            if time.monotonic() > deadline:
                raise SmokeTestError(f"{base}/ping: not ready after {seconds:.0f} s") from None
            time.sleep(0.5)


def smoke(base: str, key: str | None, route: str, wait: float) -> dict[str, Any]:
    wait_until_up(base, wait)
    card = call(f"{base}/model", key=key)
    record = sample_record(card["features"])
    answer = call(f"{base}{route}", {"instances": [record]}, key=key)
    if len(answer.get("predictions", [])) != 1:
        raise SmokeTestError(f"{base}{route}: expected one prediction, got {answer!r:.200}")
    version, prediction = answer.get("model_version"), answer["predictions"][0]
    log.info("model %s answered %s for %s", version, prediction, record)
    return answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="service base URL")
    parser.add_argument("--route", default="/invocations", choices=["/invocations", "/predict"])
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for /ping")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        smoke(args.url.rstrip("/"), os.environ.get("API_KEY") or None, args.route, args.wait)
    except UserError as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
