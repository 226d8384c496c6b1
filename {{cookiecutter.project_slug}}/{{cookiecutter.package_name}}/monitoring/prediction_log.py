"""Record a sample of served predictions as JSON Lines, for the drift check.

Off unless ``PREDICTION_LOG_DIR`` is set; ``PREDICTION_LOG_SAMPLE`` is the share
of requests recorded. A recorded request becomes one line: the time, the request
id, the model version, the features as the model received them (column by
column) and the predictions. Nothing else of the request is kept: no headers, no
API key, no client address.

Each server process appends to a file of its own, so workers never interleave
lines and need no lock between them. A file that reaches
``PREDICTION_LOG_MAX_BYTES`` is closed and a new one begun; the oldest files
beyond ``PREDICTION_LOG_MAX_FILES`` are deleted, which bounds the disk used (each
running worker's current file is kept, so the bound is at least one file a worker).
A failed write (a full disk, say) is logged and never fails the request.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..config import Settings
from ..errors import ConfigError, DataError

if TYPE_CHECKING:  # pandas is only needed to read logs back, never by the service
    import pandas as pd

    from ..data_processing.validation import FeatureSpec
    from ..serve.inputs import Batch

FILE_PREFIX = "predictions-"
FILE_SUFFIX = ".jsonl"
WARN_EVERY_SECONDS = 60.0  # a failing disk is reported once a minute, not per request

log = logging.getLogger(__name__)


class PredictionLog:
    """Appends sampled predictions to rotating JSON Lines files in ``folder``."""

    def __init__(self, folder: Path, sample: float, max_bytes: int, max_files: int) -> None:
        self.folder = folder
        self.sample = sample
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._lock = threading.Lock()  # gunicorn threads share a process's file
        self._fd: int | None = None
        self._path: Path | None = None
        self._pid = 0
        self._size = 0
        self._warned_at = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings) -> PredictionLog | None:
        """The log the settings ask for, or None when ``PREDICTION_LOG_DIR`` is unset."""
        folder = settings.prediction_log_dir
        if folder is None:
            return None
        settings.check(
            {
                "PREDICTION_LOG_SAMPLE": (0 <= settings.prediction_log_sample <= 1, "0 to 1"),
                "PREDICTION_LOG_MAX_BYTES": (
                    settings.prediction_log_max_bytes >= 1024,
                    "1024 or more",
                ),
                "PREDICTION_LOG_MAX_FILES": (settings.prediction_log_max_files >= 1, "1 or more"),
            }
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"setting PREDICTION_LOG_DIR={str(folder)!r}: cannot create it ({error.strerror})"
            ) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(
                f"setting PREDICTION_LOG_DIR={str(folder)!r}: this user cannot write there"
            )
        log.info(
            "prediction log: %s of requests into %s (%d files of %d bytes at most)",
            f"{settings.prediction_log_sample:.0%}",
            folder,
            settings.prediction_log_max_files,
            settings.prediction_log_max_bytes,
        )
        return cls(
            folder,
            settings.prediction_log_sample,
            settings.prediction_log_max_bytes,
            settings.prediction_log_max_files,
        )

    def sampled(self) -> bool:
        """Whether to record this request (``random`` is reseeded in each forked worker)."""
        return self.sample >= 1 or random.random() < self.sample

    def record(
        self, batch: Batch, predictions: Any, model_version: str, request_id: str | None
    ) -> None:
        """Append one line for one request; a failure is logged, never raised."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "model_version": model_version,
            "rows": batch.rows,
            "features": {**batch.numeric, **batch.categorical},
            "predictions": predictions,
        }
        line = orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
        with self._lock:
            try:
                self._append(line)
            except OSError as error:
                self._close()
                now = time.monotonic()
                if now - self._warned_at >= WARN_EVERY_SECONDS:
                    self._warned_at = now
                    log.warning("prediction log: cannot write to %s: %s", self.folder, error)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _append(self, line: bytes) -> None:
        fd = self._fd
        if fd is None or self._needs_new_file(fd):
            fd = self._open_new_file()
        view = memoryview(line)
        while view:  # a regular file takes the whole line at once; loop to be sure
            written = os.write(fd, view)
            view = view[written:]
        self._size += len(line)

    def _needs_new_file(self, fd: int) -> bool:
        if self._pid != os.getpid():  # a forked worker: the file is its parent's
            return True
        if self._size >= self.max_bytes:
            return True
        return os.fstat(fd).st_nlink == 0  # another process deleted it as the oldest

    def _open_new_file(self) -> int:
        if self._pid == os.getpid():
            self._close()
        else:  # the descriptor, if any, belongs to the parent process: leave it to the parent
            self._fd = None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._pid = os.getpid()
        self._path = self.folder / f"{FILE_PREFIX}{stamp}-{self._pid}{FILE_SUFFIX}"
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._prune()
        return fd

    def _prune(self) -> None:
        """Delete the oldest files beyond ``max_files`` (names sort by creation time),
        but never a file a running worker writes: with more workers than ``max_files``
        they would delete each other's files, and most records, in turn."""
        files = sorted(log_files(self.folder))
        excess = len(files) - self.max_files
        in_use = files_in_use(files) | {self._path}
        for old in files:
            if excess <= 0:
                break
            if old not in in_use:
                old.unlink(missing_ok=True)  # another worker may have pruned it already
                excess -= 1

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def files_in_use(files: list[Path]) -> set[Path]:
    """The newest file of each writer still running (a name ends in -<pid>.jsonl)."""
    newest: dict[int, Path] = {}
    for path in files:  # oldest first: the last one of a pid is its current file
        pid = path.stem.rsplit("-", 1)[-1]
        if pid.isdigit():
            newest[int(pid)] = path
    return {path for pid, path in newest.items() if _running(pid)}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


def log_files(folder: Path) -> list[Path]:
    return [path for path in folder.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}") if path.is_file()]


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and every log file inside each given folder, oldest first."""
    result: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(log_files(path))
            if not found:
                raise DataError(f"{path}: no prediction log files ({FILE_PREFIX}*{FILE_SUFFIX})")
            result.extend(found)
        elif path.is_file():
            result.append(path)
        else:
            raise DataError(f"{path}: file or folder not found")
    return result


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The well-formed lines of one log file; a torn or foreign line is skipped, counted."""
    skipped = 0
    with path.open("rb") as lines:
        for line in lines:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                skipped += 1
                continue
            if isinstance(entry, dict) and isinstance(entry.get("features"), dict):
                yield entry
            elif line.strip():
                skipped += 1
    if skipped:
        log.warning("%s: skipped %d line(s) that are not prediction records", path, skipped)


def read_prediction_logs(paths: Iterable[Path], spec: FeatureSpec) -> pd.DataFrame:
    """The logged rows as one frame: the features of ``spec``, then prediction and version.

    Records without every feature of ``spec`` (from a model with other features)
    are skipped and counted, so a folder that spans a model change still reads.
    """
    import pandas as pd

    columns: dict[str, list[Any]] = {name: [] for name in spec.columns}
    predictions: list[Any] = []
    versions: list[Any] = []
    foreign = 0
    files = expand(paths)
    for path in files:
        for entry in read_records(path):
            features, rows = entry["features"], entry.get("rows")
            if not isinstance(rows, int) or not all(
                isinstance(features.get(name), list) and len(features[name]) == rows
                for name in spec.columns
            ):
                foreign += 1
                continue
            for name in spec.columns:
                columns[name].extend(features[name])
            predictions.extend(entry.get("predictions") or [None] * rows)
            versions.extend([entry.get("model_version")] * rows)
    if foreign:
        log.warning("skipped %d record(s) whose features differ from the model's", foreign)
    frame = pd.DataFrame(columns, columns=spec.columns)
    if frame.empty:
        shown = ", ".join(str(path) for path in files[:3])
        raise DataError(f"{shown}: no prediction records with the model's features")
    frame["prediction"] = predictions
    frame["model_version"] = versions
    return frame
