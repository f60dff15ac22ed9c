"""`/metrics` scraped from real servers after real station traffic: counters,
histograms and the gauges measured at scrape time; with several processes
sharing PROMETHEUS_MULTIPROC_DIR, any of them answers the sum of all."""

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call
from prometheus_client.parser import text_string_to_metric_families

from evpower.models import Role
from tests.factories import IdTagFactory
from tests.live import http
from tests.station import now_iso, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def scrape(server, token: str) -> tuple[str, dict]:
    """The text and {(name, frozenset(labels)): value} of one scrape."""
    response = await http(server, "GET", "/metrics", token)
    assert response.status_code == 200
    text = response.text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def station_traffic(server, station_id: str, token: str) -> None:
    """Boot, a connector charging with a transaction, an unknown action, a refused command."""
    async with station_session(server, station_id) as cp:
        await cp.call(call.Heartbeat())
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Charging", timestamp=now_iso()
            )
        )
        await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=0, timestamp=now_iso())
        )
        cp.behaviour["ClearCache"] = "error"
        response = await http(
            server,
            "POST",
            "/ocpp/send_command",
            token,
            {"station_id": station_id, "command": "ClearCache", "payload": {}},
        )
        assert response.status_code == 502


async def test_metrics_after_real_traffic(start_server, live_token):
    server = start_server(fresh=True)
    token = await sync_to_async(live_token)(Role.OPERATOR)
    client_token = await sync_to_async(live_token)(Role.CLIENT)
    await sync_to_async(IdTagFactory)(id_tag="TAG-METRICS", owner=None)

    await station_traffic(server, "CP-METRICS-1", token)
    async with station_session(server, "CP-METRICS-ON"):
        created = await http(
            server,
            "POST",
            "/ocpp/sessions",
            token,
            {"station_id": "CP-METRICS-ON", "connector_id": 2, "id_tag": "TAG-METRICS"},
        )
        assert created.status_code == 201, created.text
        text, samples = await scrape(server, token)
    assert (await http(server, "GET", "/metrics", client_token)).status_code == 403

    assert "_created" not in text
    assert value(samples, "evpower_stations_connected") == 1
    assert value(samples, "evpower_process_stations_connected") == 1
    assert value(samples, "evpower_transactions_active") == 1
    assert value(samples, "evpower_sessions_active", status="created") == 1
    assert value(samples, "evpower_sessions_active", status="charging") == 1  # free-vend start
    assert value(samples, "evpower_connectors", status="Charging") == 1
    assert ("evpower_connectors", frozenset({("status", "Faulted")})) in samples
    assert (
        value(samples, "evpower_ocpp_messages_total", direction="in", message_type="CALL", action="Heartbeat")
        == 1
    )
    assert value(samples, "evpower_ocpp_errors_total", direction="in", code="GenericError") == 1
    assert (
        value(samples, "evpower_ocpp_command_seconds_count", action="ClearCache", outcome="station_error")
        == 1
    )
    assert value(samples, "evpower_writer_commit_seconds_count") >= 1
    assert value(samples, "evpower_writer_batch_size_count", kind="units") >= 1
    assert value(samples, "evpower_writer_batch_size_sum", kind="rows") >= 8  # every frame is logged
    assert ("evpower_channel_layer_errors_total", frozenset()) not in samples  # no failure, no series


async def test_several_processes_answer_the_sum_of_all(start_server, live_token, tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    first, second = start_server(fresh=True, **env), start_server(fresh=True, **env)
    token = await sync_to_async(live_token)(Role.OPERATOR)

    await station_traffic(first, "CP-MP-1", token)
    await station_traffic(second, "CP-MP-2", token)

    for server in (first, second):
        text, samples = await scrape(server, token)
        assert "_created" not in text
        heartbeats = value(
            samples, "evpower_ocpp_messages_total", direction="in", message_type="CALL", action="Heartbeat"
        )
        assert heartbeats == 2
        assert value(samples, "evpower_ocpp_errors_total", direction="in", code="GenericError") == 2
        assert (
            value(samples, "evpower_ocpp_command_seconds_count", action="ClearCache", outcome="station_error")
            == 2
        )
        assert value(samples, "evpower_transactions_active") == 2
        assert value(samples, "evpower_connectors", status="Charging") == 2
        # Per-process values make no sense when any process may answer.
        assert "evpower_process_stations_connected" not in text
        # One series per name and labels: no duplicate lines from the two processes.
        series = [line.split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")]
        assert len(series) == len(set(series))
