"""Station actions of the back office, end to end: a signed-in browser session
against a real server, a real OCPP client answering, each station's answer
reported back as an admin message."""

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from billing.models import Session, SessionStatus, Transaction
from evpower.models import Role
from stations.models import IdTag, Reservation, Station
from tests.admin_session import AdminSession, in_thread, messages_of
from tests.factories import StationFactory, UserFactory
from tests.station import eventually, now_iso, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STATIONS = "/admin/stations/station/"


@sync_to_async
def _staff(role=Role.OPERATOR) -> str:
    return UserFactory(role=role).username


@sync_to_async
def _pk(station_id: str) -> int:
    return Station.objects.get(station_id=station_id).pk


async def _login(server, role=Role.OPERATOR) -> AdminSession:
    return await in_thread(AdminSession, server, await _staff(role))


async def test_reset_reaches_the_station_and_its_answer_is_reported(server):
    browser = await _login(server)
    await sync_to_async(StationFactory)(station_id="CP-OFFLINE")
    async with station_session(server, "CP:01#A+B.2") as cp:
        pks = [await _pk("CP:01#A+B.2"), await _pk("CP-OFFLINE")]
        page = await in_thread(browser.action, STATIONS, "reset_soft", pks)

        assert await cp.wait_for("Reset") == {"type": "Soft"}
        shown = messages_of(page)
        assert "CP:01#A+B.2: Reset accepted — Accepted" in shown
        assert "CP-OFFLINE: Reset offline, nothing sent" in shown

        cp.answers["Reset"] = {"status": "Rejected"}
        page = await in_thread(browser.action, STATIONS, "reset_hard", pks[:1])
        assert messages_of(page) == ["CP:01#A+B.2: Reset rejected — Rejected"]

        cp.behaviour["ClearCache"] = "error"
        page = await in_thread(browser.action, STATIONS, "clear_cache", pks[:1])
        (shown,) = messages_of(page)
        assert shown.startswith("CP:01#A+B.2: ClearCache station error — GenericError")


async def test_actions_with_parameters_send_what_the_form_says(server):
    browser = await _login(server)
    async with station_session(server, "CP-FORMS") as cp:
        pk = await _pk("CP-FORMS")

        form = await in_thread(browser.action, STATIONS, "unlock_connector", [pk])
        assert 'name="connector_id"' in form.text  # the intermediate page, nothing sent yet
        page = await in_thread(browser.action, STATIONS, "unlock_connector", [pk], connector_id="2")
        assert await cp.wait_for("UnlockConnector") == {"connector_id": 2}
        assert messages_of(page) == ["CP-FORMS: UnlockConnector accepted — Unlocked"]

        await in_thread(
            browser.action, STATIONS, "change_availability", [pk], connector_id="0", type="Inoperative"
        )
        assert await cp.wait_for("ChangeAvailability") == {"connector_id": 0, "type": "Inoperative"}

        await in_thread(
            browser.action,
            STATIONS,
            "trigger_message",
            [pk],
            requested_message="MeterValues",
            connector_id="1",
        )
        assert await cp.wait_for("TriggerMessage") == {"requested_message": "MeterValues", "connector_id": 1}

        page = await in_thread(browser.action, STATIONS, "get_configuration", [pk])
        assert messages_of(page) == ["CP-FORMS: GetConfiguration accepted — 2 keys stored"]
        detail = await in_thread(browser.get, f"{STATIONS}{pk}/change/")
        assert "NumberOfConnectors" in detail.text and "HeartbeatInterval" in detail.text

        # From the station's page: the form, then the command.
        url = f"{STATIONS}{pk}/change-configuration/"
        assert 'name="key"' in (await in_thread(browser.get, url)).text
        page = await in_thread(browser.post, url, {"apply": "1", "key": "HeartbeatInterval", "value": "60"})
        assert await cp.wait_for("ChangeConfiguration") == {"key": "HeartbeatInterval", "value": "60"}
        assert "CP-FORMS: ChangeConfiguration accepted — Accepted" in messages_of(page)

        async def stored():
            station = await Station.objects.aget(pk=pk)
            assert station.configuration["HeartbeatInterval"]["value"] == "60"

        await eventually(stored)


async def test_silent_station_is_reported_as_timeout(start_server):
    server = start_server(OCPP_CALL_TIMEOUT="1")
    browser = await _login(server)
    async with station_session(server, "CP-SILENT") as cp:
        cp.behaviour["Reset"] = "silent"
        page = await in_thread(browser.action, STATIONS, "reset_soft", [await _pk("CP-SILENT")])
        assert messages_of(page) == ["CP-SILENT: Reset no answer (timeout)"]


@sync_to_async
def _driver_tag() -> str:
    IdTag.objects.create(id_tag="DRIVER-1", owner=UserFactory(role=Role.CLIENT))
    return "DRIVER-1"


async def test_remote_start_bills_a_session_and_remote_stop_ends_it(server):
    browser = await _login(server)
    tag = await _driver_tag()
    async with station_session(server, "CP-START") as cp:
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        pk = await _pk("CP-START")

        page = await in_thread(browser.action, STATIONS, "remote_start", [pk], id_tag=tag, connector_id="1")
        assert await cp.wait_for("RemoteStartTransaction") == {"connector_id": 1, "id_tag": tag}
        assert messages_of(page) == ["CP-START: RemoteStartTransaction accepted — Accepted"]
        session = await Session.objects.aget(station_id=pk)
        assert (session.status, session.id_tag) == (SessionStatus.STARTING, tag)

        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag=tag, meter_start=1000, timestamp=now_iso())
        )
        page = await in_thread(browser.action, "/admin/billing/session/", "remote_stop", [session.pk])
        assert await cp.wait_for("RemoteStopTransaction") == {"transaction_id": started.transaction_id}
        assert messages_of(page) == [f"session {session.pk}: RemoteStopTransaction accepted — Accepted"]
        await session.arefresh_from_db()
        assert session.status == SessionStatus.STOPPING


async def test_operator_may_not_close_a_transaction_but_an_admin_may(server):
    operator, admin = await _login(server), await _login(server, Role.ADMIN)
    async with station_session(server, "CP-ABANDON") as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="ANY", meter_start=0, timestamp=now_iso())
        )
        url = "/admin/billing/transaction/"
        tx = started.transaction_id

        refused = await in_thread(operator.action, url, "close_abandoned", [tx], reason="Lost")
        assert (await Transaction.objects.aget(pk=tx)).stopped_at is None
        assert refused.status_code in (200, 403)

        page = await in_thread(admin.action, url, "close_abandoned", [tx], reason="Lost")
        assert messages_of(page) == [f"transaction {tx}: Close accepted — closed and billed"]
        closed = await Transaction.objects.aget(pk=tx)
        assert (closed.stop_reason, closed.stopped_at is not None) == ("Lost", True)
        assert cp.received == [] or all(name != "RemoteStopTransaction" for name, _ in cp.received)


async def test_reserve_sends_reserve_now_and_keeps_the_reservation(server):
    browser = await _login(server)
    async with station_session(server, "CP-RESERVE") as cp:
        pk = await _pk("CP-RESERVE")
        form = await in_thread(browser.action, STATIONS, "reserve", [pk])
        assert 'name="minutes"' in form.text  # the intermediate page, nothing sent yet
        page = await in_thread(
            browser.action, STATIONS, "reserve", [pk], connector_id="1", id_tag="DRIVER-7", minutes="15"
        )
        sent = await cp.wait_for("ReserveNow")
        assert (sent["connector_id"], sent["id_tag"]) == (1, "DRIVER-7")
        reservation = await Reservation.objects.aget(pk=sent["reservation_id"])
        assert (reservation.status, reservation.id_tag) == ("accepted", "DRIVER-7")
        assert messages_of(page) == ["CP-RESERVE: ReserveNow accepted — Accepted"]
