"""gateway/logs.py: each record is one JSON object on one line; text stays readable."""
from __future__ import annotations

import io
import json
import logging

from gateway.logs import JsonFormatter, TextFormatter


def record(name: str, msg, *args, exc_info=None, **extra) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, exc_info)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_message_json_string_becomes_the_object_itself():
    line = JsonFormatter().format(record("schoolgate.message", json.dumps({"event": "message", "id": "m1"})))
    obj = json.loads(line)
    assert obj["event"] == "message" and obj["id"] == "m1" and "message" not in obj
    assert obj["level"] == "info" and obj["logger"] == "schoolgate.message" and obj["ts"].endswith("Z")


def test_plain_text_dict_events_extras_and_exceptions():
    fmt = JsonFormatter({"worker": 1})
    plain = json.loads(fmt.format(record("gateway.relay", "next hop %s down", "mx:25")))
    assert plain["message"] == "next hop mx:25 down" and plain["worker"] == 1
    ev = json.loads(fmt.format(record("schoolgate", {"event": "start", "message": "SMTP on x", "port": 25})))
    assert ev["event"] == "start" and ev["port"] == 25 and ev["message"] == "SMTP on x"
    assert json.loads(fmt.format(record("filters.chain", "failed", filter="virus")))["filter"] == "virus"
    try:
        raise RuntimeError("line one\nline two")
    except RuntimeError:
        import sys
        line = fmt.format(record("schoolgate.smtp", "internal error", exc_info=sys.exc_info()))
    assert "\n" not in line and "RuntimeError: line one" in json.loads(line)["exception"]


def test_text_format_renders_a_dict_event_as_words():
    text = TextFormatter({"worker": 0}).format(record("schoolgate", {"event": "start", "message": "SMTP on x",
                                                                     "port": 25}))
    assert "INFO [worker 0] schoolgate: SMTP on x port=25" in text


def test_setup_keeps_other_handlers_and_holds_libraries_at_warning():
    from gateway.logs import setup_logging

    root = logging.getLogger()
    before = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        setup_logging("info", "json", stream=stream)
        logging.getLogger("mail.log").info("Available AUTH mechanisms: LOGIN")
        logging.getLogger("gateway.service").info("SMTP listening")
        logging.getLogger("weasyprint").warning("a real problem")
        objs = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [o["logger"] for o in objs] == ["gateway.service", "weasyprint"]
        assert all(h in root.handlers for h in before[0])
        setup_logging("debug", "json", stream=stream)
        logging.getLogger("mail.log").debug("chatter")
        assert "chatter" in stream.getvalue()
    finally:
        for handler in list(root.handlers):
            if handler not in before[0]:
                root.removeHandler(handler)
        root.setLevel(before[1])
        for name in ("schoolgate", "gateway", "filters", "quarantine", "config"):
            logging.getLogger(name).setLevel(logging.NOTSET)
        logging.captureWarnings(False)
