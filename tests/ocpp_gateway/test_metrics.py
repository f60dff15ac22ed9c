import pytest
from asgiref.sync import sync_to_async

from ocpp_gateway import commands, metrics

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("who", "status"), [("anon", 401), ("client", 403), ("operator", 200), ("admin", 200)]
)
def test_metrics_need_operator(api, who, status):
    assert api[who].get("/metrics").status_code == status


def test_metrics_token_opens_metrics(api, settings):
    settings.OCPP = {**settings.OCPP, "METRICS_TOKEN": "scrape-me-please"}
    ok = api["anon"].get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-please")
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain")
    assert api["anon"].get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code in (401, 403)


def test_no_token_configured_means_no_token_access(api, settings):
    settings.OCPP = {**settings.OCPP, "METRICS_TOKEN": ""}
    assert api["anon"].get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code in (401, 403)


async def test_metrics_count_messages_errors_and_connections(raw_station, api):
    station = await raw_station("CP-METRICS")
    await station.call("Heartbeat", {})
    await station.call("MakeCoffee", {})
    body = (await sync_to_async(api["operator"].get)("/metrics")).content.decode()
    assert 'evpower_ocpp_messages_total{action="Heartbeat",direction="in",message_type="CALL"}' in body
    assert 'evpower_ocpp_errors_total{code="NotImplemented",direction="out"}' in body
    connected = [line for line in body.splitlines() if line.startswith("evpower_stations_connected ")]
    assert connected and float(connected[0].split()[1]) >= 1


async def test_a_stations_own_action_and_error_code_are_counted_as_other(raw_station, api):
    """A station may send any text as an action or error code: it becomes no
    label of its own, and text Prometheus cannot write does not fail the scrape."""
    station = await raw_station("CP-ODD")
    await station.comm.send_to(text_data='[2,"o1","Heart\\ud800beat",{}]')
    assert (await station.reply("o1"))[0] == 4
    await station.call("MakeTea", {})
    await station.comm.send_to(text_data='[4,"o2","Boom\\ud800",{},{}]')  # answers no call: logged
    await station.call("Heartbeat", {})  # the three were handled
    response = await sync_to_async(api["operator"].get)("/metrics")
    assert response.status_code == 200
    body = response.content.decode()
    assert "MakeTea" not in body and "Boom" not in body
    assert 'evpower_ocpp_messages_total{action="other",direction="in",message_type="CALL"}' in body
    assert 'evpower_ocpp_errors_total{code="other",direction="in"}' in body


class _Layer:
    async def new_channel(self):
        return "reply.1"


async def test_channel_layer_failures_are_counted(monkeypatch):
    async def held_by_another_process(station_id):
        return "another-process"

    async def redis_down(process, message):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(commands.presence, "holder", held_by_another_process)
    monkeypatch.setattr(commands, "get_channel_layer", _Layer)
    monkeypatch.setattr(commands, "_process_send", redis_down)
    before = metrics.channel_layer_errors.labels("command")._value.get()

    with pytest.raises(ConnectionError):
        await commands.command_send(station=_Address(), action="Reset", payload={"type": "Soft"})

    assert metrics.channel_layer_errors.labels("command")._value.get() == before + 1


class _Address:
    pk = 1
    station_id = "CP-1"
