"""API keys: loading, constant-time checking, and a helper to make new ones.

Keys come from ``API_KEYS`` (comma-separated) and/or ``API_KEYS_FILE`` (one per
line; ``sha256:<hex>`` lines hold a hash instead of the key, so production never
stores the secret). Keys are compared as SHA-256 digests with
``hmac.compare_digest`` against every entry, and are never logged.

New key, and the line for a keys file::

    python -m {{ cookiecutter.package_name }}.serve.auth new
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import ConfigError

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

MIN_KEY_LENGTH = 16
HASH_PREFIX = "sha256:"


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyStore:
    def __init__(self, digests: Iterable[bytes]) -> None:
        self._digests = tuple(digests)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def verify(self, presented: str | None) -> bool:
        if not presented:
            return False
        candidate = digest(presented)
        matched = False
        for known in self._digests:  # no early exit: time does not depend on which key matched
            matched |= hmac.compare_digest(known, candidate)
        return matched

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        entries = [("API_KEYS", key) for key in settings.api_keys]
        if settings.api_keys_file:
            entries += [
                (str(settings.api_keys_file), line) for line in _read_lines(settings.api_keys_file)
            ]
        return cls(_to_digest(source, entry) for source, entry in entries)


def _read_lines(path: Path) -> list[str]:
    try:
        # utf-8-sig: a file saved by Notepad starts with a byte-order mark, which would
        # otherwise become part of the first key.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ConfigError(f"API_KEYS_FILE={path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"API_KEYS_FILE={path}: not UTF-8 text") from None
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _to_digest(source: str, entry: str) -> bytes:
    # Any case: an "SHA256:..." line taken as a key would make the hash a credential.
    if entry[: len(HASH_PREFIX)].lower() == HASH_PREFIX:
        hex_digest = entry[len(HASH_PREFIX) :]
        try:
            raw = bytes.fromhex(hex_digest)
        except ValueError:
            raw = b""
        if len(raw) != hashlib.sha256().digest_size:
            raise ConfigError(f"{source}: a 'sha256:' entry must hold 64 hex digits")
        return raw
    if not (entry.isascii() and entry.isprintable()):
        # Clients send header values as bytes that servers read as Latin-1, so a key with
        # other characters could never match.
        raise ConfigError(f"{source}: an API key must be printable ASCII characters")
    if len(entry) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{source}: an API key has {len(entry)} characters; use at least {MIN_KEY_LENGTH} "
            "(python -m {{ cookiecutter.package_name }}.serve.auth new makes one)"
        )
    return digest(entry)


def presented_key(headers: Headers | Mapping[str, str]) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer <key>``."""
    key = headers.get("X-API-Key")
    if key:
        return key
    scheme, _, credentials = (headers.get("Authorization") or "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def main() -> None:
    if sys.argv[1:] != ["new"]:
        sys.exit("usage: python -m {{ cookiecutter.package_name }}.serve.auth new")
    key = secrets.token_urlsafe(32)
    sys.stdout.write(f"API key (give to the client):  {key}\n")
    sys.stdout.write(f"API_KEYS_FILE line (server):   {HASH_PREFIX}{digest(key).hex()}\n")


if __name__ == "__main__":
    main()
