"""Under ASGI `POST /ocpp/send_command` runs on the event loop: it visits a
thread at most once (the station, unless it is connected), not for Django's
request_started, not once per middleware hook, and never for the wait or
the station's presence."""

import json

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from channels.testing import HttpCommunicator
from rest_framework.authtoken.models import Token

from evpower.api.authentication import token_cache
from evpower.asgi import django_asgi_app
from evpower.models import Role
from ocpp_gateway import commands, presence
from stations.models import Station
from tests.factories import StationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def thread_visits(monkeypatch):
    """The functions run through `sync_to_async` during the test, by name."""
    visits = []
    call = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        visits.append(getattr(self.func, "__name__", repr(self.func)))
        return await call(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    return visits


@pytest.fixture
def station_answers(monkeypatch):
    """The station CP-T is connected and answers every command `Accepted`."""
    StationFactory(station_id="CP-T")
    waits = []

    async def command_send(*, station, action, payload, timeout=None):
        waits.append(action)
        return {"status": "Accepted"}

    monkeypatch.setattr(commands, "command_send", command_send)
    return waits


@pytest.fixture
def token() -> str:
    return Token.objects.create(user=UserFactory(role=Role.OPERATOR)).key


async def _send(token: str, body: dict) -> dict:
    content = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"authorization", f"Token {token}".encode()),
    ]
    communicator = HttpCommunicator(django_asgi_app, "POST", "/ocpp/send_command", content, headers)
    return await communicator.get_response(timeout=10)


async def test_a_command_visits_a_thread_only_for_the_station(token, thread_visits, station_answers):
    body = {"station_id": "CP-T", "command": "Reset", "payload": {"type": "Soft"}}
    first = await _send(token, body)  # looks the token up
    thread_visits.clear()

    response = await _send(token, body)

    assert first["status"] == response["status"] == 200
    assert json.loads(response["body"]) == {"status": "Accepted", "response": {"status": "Accepted"}}
    assert station_answers == ["Reset", "Reset"]
    # Our one look-up; after the answer, Django's response.close
    # (request_finished), if it ran yet.
    assert thread_visits[:1] == ["_command_station"]
    assert set(thread_visits) <= {"_command_station", "close"}


async def test_a_command_to_a_connected_station_visits_no_thread_before_its_answer(
    token, thread_visits, station_answers
):
    body = {"station_id": "CP-T", "command": "Reset", "payload": {"type": "Soft"}}
    await _send(token, body)  # looks the token up
    pk = await sync_to_async(lambda: Station.objects.get(station_id="CP-T").pk)()
    await presence.register("CP-T", 1, pk)  # as its connection does
    thread_visits.clear()
    try:
        response = await _send(token, body)
    finally:
        await presence.unregister("CP-T", 1)

    assert response["status"] == 200
    assert set(thread_visits) <= {"close"}, thread_visits  # Django's, after the answer


async def test_refusals_before_the_station_visit_no_thread_of_ours(token, thread_visits, station_answers):
    await _send(token, {"station_id": "CP-T", "command": "Reset", "payload": {"type": "Soft"}})
    thread_visits.clear()

    response = await _send(token, {"station_id": "CP-T", "command": "Reset", "payload": {"type": "Sideways"}})

    assert response["status"] == 400
    assert json.loads(response["body"])["error"] == "invalid_payload"
    # Only Django's log line of a 4xx and its request_finished: the cached
    # token is checked, the payload validated, on the event loop.
    assert set(thread_visits) <= {"log_response", "close"}, thread_visits


async def test_a_cached_token_that_expires_during_the_request_is_not_looked_up_on_the_loop(
    token, station_answers, monkeypatch
):
    body = {"station_id": "CP-T", "command": "Reset", "payload": {"type": "Soft"}}
    await _send(token, body)  # cached now
    real_get = token_cache.get
    asked = []

    def expires_after_the_check(key):
        # The view's check sees the entry; by DRF's authentication it is gone
        # (expired, or emptied by a user saved in another thread).
        asked.append(key)
        return real_get(key) if len(asked) == 1 else None

    monkeypatch.setattr(token_cache, "get", expires_after_the_check)

    response = await _send(token, body)

    assert response["status"] == 200, response["body"]
    assert json.loads(response["body"]) == {"status": "Accepted", "response": {"status": "Accepted"}}


async def test_an_unconnected_station_is_refused_without_a_presence_visit(token, thread_visits):
    """`command_send` finds that no process holds the station, on the event
    loop: the view asks the sync thread for the station only."""
    await sync_to_async(StationFactory)(station_id="CP-AWAY")
    body = {"station_id": "CP-AWAY", "command": "Reset", "payload": {"type": "Soft"}}
    await _send(token, body)  # looks the token up
    thread_visits.clear()

    response = await _send(token, body)

    assert response["status"] == 409
    assert json.loads(response["body"])["error"] == "not_connected"
    assert set(thread_visits) <= {"_command_station", "log_response", "close"}, thread_visits
