"""The model as an HTTP service: ``create_app`` builds it, ``python -m`` serves it.

``create_app`` is imported on first use so that ``python -m`` can prepare the
metrics folder for gunicorn's workers before any metric exists.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
