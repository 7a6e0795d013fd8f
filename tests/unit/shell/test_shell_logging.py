"""Log lines: JSON with the order's ids from the context, secrets masked, noisy clients rate-limited."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from streams.shell.logging import (
    JsonFormatter,
    RateLimit,
    TextFormatter,
    configure,
    current_context,
    enter_order_context,
    leave_order_context,
    order_context,
)
from streams.shell.settings import LogFormat, LogLevel


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    configure("order-writer", LogLevel.INFO, LogFormat.JSON, secrets=["hunter2-secret"])
    out = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    yield out
    logging.getLogger().handlers.clear()


def test_a_line_inside_an_order_context_carries_its_ids(lines: io.StringIO) -> None:
    with (
        order_context(order_id="BC-1", correlation_id="c-1", causation_id="cmd-1"),
        order_context(partition=2, offset=17),
    ):
        logging.getLogger("streams.services.writer").info("decided %s", "CreateOrder")
    logging.getLogger("streams").info("outside")
    inside, outside = (json.loads(line) for line in lines.getvalue().splitlines())
    assert inside["message"] == "decided CreateOrder"
    assert inside["process"] == "order-writer"
    assert {k: inside[k] for k in ("order_id", "correlation_id", "causation_id", "partition", "offset")} == {
        "order_id": "BC-1",
        "correlation_id": "c-1",
        "causation_id": "cmd-1",
        "partition": 2,
        "offset": 17,
    }
    assert "order_id" not in outside


def test_ids_entered_without_a_with_are_order_contexts_on_top_of_the_enclosing_one() -> None:
    """None ids are left out (an inventory command has no order id); leaving restores the
    enclosing context; the ids override it, in order_context's order of keys."""
    with order_context(correlation_id="outer", partition=1):
        enclosing = current_context()
        token = enter_order_context({"order_id": None, "correlation_id": "c-2", "offset": 3})
        inside = current_context()
        leave_order_context(token)
        assert current_context() == enclosing
        with order_context(order_id=None, correlation_id="c-2", offset=3):
            assert list(current_context().items()) == list(inside.items())
    assert list(inside.items()) == [("correlation_id", "c-2"), ("partition", 1), ("offset", 3)]
    token = enter_order_context({"order_id": "BC-3"})
    assert current_context() == {"order_id": "BC-3"}
    leave_order_context(token)
    assert current_context() == {}


def test_extra_fields_name_the_order_too(lines: io.StringIO) -> None:
    logging.getLogger("connectors").warning("retrying", extra={"order_id": "FNO-2"})
    assert json.loads(lines.getvalue())["order_id"] == "FNO-2"


def test_secret_values_are_masked_whatever_printed_them(lines: io.StringIO) -> None:
    logging.getLogger("x").error("token is %s", "hunter2-secret")
    assert "hunter2-secret" not in lines.getvalue()
    assert "token is ***" in lines.getvalue()


def test_text_lines_end_with_the_ids() -> None:
    record = logging.LogRecord("w", logging.INFO, __file__, 1, "appended", None, None)
    with order_context(order_id="BC-9"):
        assert TextFormatter().format(record).endswith("w: appended [order_id=BC-9]")


def test_json_formatter_includes_the_exception() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("w", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "RuntimeError: boom" in json.loads(JsonFormatter([]).format(record))["exception"]


def test_repeated_client_lines_pass_once_per_interval() -> None:
    limit = RateLimit(interval=60, names=("librdkafka",))

    def line(name: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.WARNING, __file__, 1, "Connection refused", None, None)

    passed = [limit.filter(line("librdkafka")) for _ in range(37)]
    assert passed.count(True) == 1
    assert limit.filter(line("streams.services")) is True
