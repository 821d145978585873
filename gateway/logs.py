"""Log output: one JSON object per line (or readable text), our loggers at [logging] level, libraries at WARNING.

`schoolgate serve` writes its log to stdout for journald, Docker or a log shipper:
each line is one JSON object with ts, level, logger and either the event's own
fields or a message. The per-message decision (gateway/server.py logs it as a
JSON string on `schoolgate.message`) becomes that object itself, not a string
inside a text line. Libraries (aiosmtpd's per-command lines, WeasyPrint and
fontTools progress, uvicorn) are held at WARNING unless the level is debug.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any, Mapping

# Our own code logs under these names (module __name__ or "schoolgate.*").
OWN_LOGGERS = ("schoolgate", "gateway", "filters", "quarantine", "config")
MESSAGE_LOGGER = "schoolgate.message"
LIBRARY_LEVEL = logging.WARNING
_HANDLER_NAME = "schoolgate"
# LogRecord's own attributes: anything else on a record came from `extra=` and is an event field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def _timestamp(created: float) -> str:
    """RFC 3339 in UTC with milliseconds: sorts as text and needs no time zone to read."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event's own fields: a dict passed as the message, a JSON object string logged on
    schoolgate.message, or `extra=` keys."""
    fields: dict[str, Any] = {}
    if isinstance(record.msg, Mapping):
        fields.update(record.msg)
    elif record.name == MESSAGE_LOGGER and isinstance(record.msg, str) and record.msg.startswith("{"):
        try:
            decoded = json.loads(record.msg)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            fields.update(decoded)
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped by JSON)."""

    def __init__(self, static: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {"ts": _timestamp(record.created), "level": record.levelname.lower(),
                               "logger": record.name, **self.static}
        fields = _fields(record)
        if fields:
            obj.update(fields)
        if not isinstance(record.msg, Mapping) and not (fields and record.name == MESSAGE_LOGGER
                                                        and "event" in fields):
            obj["message"] = record.getMessage()
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        return json.dumps(obj, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`[logging] format = "text"`: a line a person reads in a terminal."""

    def __init__(self, static: Mapping[str, Any] | None = None) -> None:
        prefix = "".join(f"[{k} {v}] " for k, v in (static or {}).items())
        super().__init__(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, Mapping):
            fields = dict(record.msg)
            text = str(fields.pop("message", fields.pop("event", "")))
            record = logging.makeLogRecord({**vars(record), "args": None, "msg": " ".join(
                [text, *(f"{k}={v}" for k, v in fields.items())]).strip()})
        return super().format(record)


def setup_logging(level: str = "info", fmt: str = "json", *, stream: IO[str] | None = None,
                  verbose: bool = False, static: Mapping[str, Any] | None = None) -> None:
    """Configure the root logger once per process (again after a worker fork, with its index in
    `static`). level and fmt come from [logging]; verbose (-v) means debug for our loggers only."""
    ours = logging.DEBUG if verbose else getattr(logging, level.upper())
    # debug opens everything, libraries included; otherwise they speak only when something is wrong
    libraries = logging.DEBUG if level == "debug" else max(LIBRARY_LEVEL, ours)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter(static) if fmt == "json" else TextFormatter(static))
    root.addHandler(handler)
    root.setLevel(libraries)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(ours)
    logging.captureWarnings(True)  # warnings.warn from libraries: a log line, not raw stderr text


def adopt_library_handlers(names: tuple[str, ...] = ("uvicorn", "uvicorn.error", "uvicorn.access")) -> None:
    """uvicorn installs its own text handlers when its server is configured; route its records
    through ours instead (called once the gateway has started)."""
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def event(logger: logging.Logger, level: int, name: str, message: str, **fields: Any) -> None:
    """A start/stop/error line: `event` names it, `message` says it to a person, fields for machines."""
    logger.log(level, {"event": name, "message": message, **fields})
