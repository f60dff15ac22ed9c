"""Log lines: JSON objects in production, plain lines in development, with
the fields given with `extra=` and those bound to the running task."""

import asyncio
import json
import logging
import sys

import pytest

from evpower import logs

pytestmark = pytest.mark.django_db


def _record(message="hello %s", args=("world",), level=logging.INFO, exc_info=None, **extra):
    record = logging.LogRecord("ocpp_gateway.consumers", level, __file__, 1, message, args, exc_info)
    record.__dict__.update(extra)
    return record


def test_json_line_holds_message_level_logger_time_and_extra_fields():
    line = logs.formatter(json=True).format(_record(reason="bad_credentials"))

    fields = json.loads(line)
    assert "\n" not in line
    assert fields["event"] == "hello world"
    assert fields["level"] == "info"
    assert fields["logger"] == "ocpp_gateway.consumers"
    assert fields["reason"] == "bad_credentials"
    assert fields["timestamp"].endswith("Z")


def test_json_line_keeps_the_traceback_in_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record(level=logging.ERROR, exc_info=sys.exc_info())

    line = logs.formatter(json=True).format(record)

    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_plain_line_is_readable_text_with_the_fields():
    line = logs.formatter(json=False).format(_record(reason="unknown_station"))

    assert line.split(" ", 1)[1] == "INFO ocpp_gateway.consumers hello world reason=unknown_station"


async def test_fields_bound_in_a_task_are_on_its_lines_and_those_of_its_tasks_only():
    json_formatter = logs.formatter(json=True)

    async def line():
        return json_formatter.format(_record())

    async def connection():
        logs.bind(station_id="CP-7")
        return await line(), await asyncio.create_task(line())

    own, started = await asyncio.create_task(connection())
    elsewhere = json_formatter.format(_record())

    assert json.loads(own)["station_id"] == "CP-7"
    assert json.loads(started)["station_id"] == "CP-7"
    assert "station_id" not in json.loads(elsewhere)


def test_django_request_log_keeps_server_errors_only():
    keep = logs.DropClientErrors()

    assert not keep.filter(_record(status_code=404))
    assert not keep.filter(_record(status_code=401))
    assert keep.filter(_record(status_code=500))


def test_a_404_is_not_logged_by_django_itself(client, caplog):
    caplog.set_level(logging.INFO)

    assert client.get("/no/such/page").status_code == 404

    assert [r for r in caplog.records if r.name == "django.request"] == []


def test_request_objects_become_method_and_path(rf):
    line = logs.formatter(json=True).format(_record(request=rf.get("/ocpp/x"), status_code=500))

    fields = json.loads(line)
    assert (fields["method"], fields["path"], fields["status_code"]) == ("GET", "/ocpp/x", 500)
