"""Errors a user can fix. Commands print them as one line, never as a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input, bad configuration or a missing file: the message says what to change."""

    exit_code = 2


class ConfigError(UserError):
    """A setting in the environment or a value in params.yaml breaks a rule."""


class DataError(UserError):
    """A data file cannot be used: unreadable, empty, wrong columns or values."""


class ModelError(UserError):
    """A model artifact is missing, corrupt, tampered with or incompatible."""


class QualityGateError(UserError):
    """The model does not meet a quality gate from params.yaml."""

    exit_code = 1
