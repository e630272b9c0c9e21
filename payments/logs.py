"""JSON log lines, with anything shaped like an ID number, mobile number or card number masked.

The code never logs personal data on purpose; the masking filter is the second line of defence for
the day someone logs an exception message that carries a value.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_ID = re.compile(r"(?<![0-9])([1-9][0-9]{3})[0-9]{10}([0-9]{3}[0-9Xx])(?![0-9])")
_CARD = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{3,9}([0-9]{4})(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")


def mask_text(text: str) -> str:
    text = _ID.sub(lambda m: f"{m.group(1)}**********{m.group(2)}", text)
    text = _CARD.sub(lambda m: f"{m.group(1)}******{m.group(2)}", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_text(record.getMessage()),
        }
        for key in ("event", "provider", "reason", "route", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if as_json else PlainFormatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would print query strings; our own middleware logs routes instead
    logging.getLogger("uvicorn.access").disabled = True
