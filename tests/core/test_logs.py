"""JSON log lines on stdout, carrying the context of the request or job that wrote them."""
from __future__ import annotations

import json
import logging
import threading

import pytest

from core import logs
from core.logs import bind, configure_logging, log_context, start_context

QUIETED = ("botocore", "boto3", "urllib3", "s3transfer")


@pytest.fixture(autouse=True)
def restore_logging():
    """configure_logging changes process-wide state; put it back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quieted = {name: logging.getLogger(name).level for name in (*QUIETED, "aula.metrics")}
    context = logs._context.set({})
    try:
        yield
    finally:
        logs._context.reset(context)
        for handler in [h for h in root.handlers if getattr(h, "_aula", False) and h not in handlers]:
            root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
        for name, old in quieted.items():
            logging.getLogger(name).setLevel(old)


def _lines(capsys) -> list[dict]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def test_each_record_is_one_json_object_per_line_with_the_base_keys(capsys):
    configure_logging("worker")
    log = logging.getLogger("aula.test")
    log.info("first %s", "message")
    log.warning("second\nspans lines")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")

    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3
    for record in records:
        assert isinstance(record, dict)
        assert {"timestamp", "level", "logger", "message", "role"} <= set(record)
        assert record["logger"] == "aula.test" and record["role"] == "worker"
    assert [(r["level"], r["message"]) for r in records] == [
        ("INFO", "first message"), ("WARNING", "second\nspans lines"), ("ERROR", "failed")]
    assert "RuntimeError: boom" in records[2]["exc_info"]


def test_the_level_filters_records(capsys):
    configure_logging("web", "WARNING")
    logging.getLogger("aula.test").info("hidden")
    logging.getLogger("aula.test").warning("shown")
    assert [r["message"] for r in _lines(capsys)] == ["shown"]


def test_configuring_again_does_not_duplicate_lines(capsys):
    configure_logging("web")
    configure_logging("web")
    logging.getLogger("aula.test").info("once")
    assert len(_lines(capsys)) == 1


def test_context_fields_appear_on_records(capsys):
    configure_logging("worker")
    log = logging.getLogger("aula.test")
    with log_context(job_id="j-1", job_type="report"):
        bind(sqsd_msgid="m-1", receive_count=2)
        log.info("inside")
    log.info("outside")

    inside, outside = _lines(capsys)
    assert (inside["job_id"], inside["job_type"], inside["sqsd_msgid"], inside["receive_count"]) == (
        "j-1", "report", "m-1", 2)
    assert not {"job_id", "job_type", "sqsd_msgid", "receive_count"} & set(outside)


def test_none_values_are_not_bound(capsys):
    configure_logging("worker")
    with log_context(job_id="j-1", user_id=None):
        bind(sqsd_msgid=None)
        logging.getLogger("aula.test").info("x")
    (record,) = _lines(capsys)
    assert record["job_id"] == "j-1" and "user_id" not in record and "sqsd_msgid" not in record


def test_start_context_replaces_the_previous_context(capsys):
    configure_logging("web")
    log = logging.getLogger("aula.test")
    start_context(request_id="r-1")
    bind(user_id=7)
    log.info("first request")
    start_context(request_id="r-2")
    log.info("second request")

    first, second = _lines(capsys)
    assert (first["request_id"], first["user_id"]) == ("r-1", 7)
    assert second["request_id"] == "r-2" and "user_id" not in second


def test_a_bind_outside_any_context_does_not_leak_into_other_threads(capsys):
    configure_logging("worker")
    log = logging.getLogger("aula.test")

    def first() -> None:
        bind(job_id="from-the-first-thread")
        log.info("first")

    def second() -> None:
        log.info("second")

    for target in (first, second):
        thread = threading.Thread(target=target)  # a fresh thread starts with an empty context
        thread.start()
        thread.join()
    first_record, second_record = _lines(capsys)
    assert first_record["job_id"] == "from-the-first-thread"
    assert "job_id" not in second_record


def test_botocore_stays_at_info_or_above_even_at_debug(capsys):
    configure_logging("worker", "DEBUG")
    for name in QUIETED:
        assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO, name
    logging.getLogger("botocore.endpoint").debug("Sending http request")
    logging.getLogger("aula.test").debug("our own debug line")
    assert [r["message"] for r in _lines(capsys)] == ["our own debug line"]
