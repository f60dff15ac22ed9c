"""All ten station actions, end to end: a real Daphne process, a real ocpp client."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from billing.models import MeterValue, Session, Transaction, UnmatchedStop
from stations.models import Connector, DataTransferRecord, IdTag, Station, StationEvent, StatusRecord
from tests.factories import IdTagFactory, UserFactory
from tests.station import now_iso, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def eventually(check, timeout: float = 5):
    """Poll an async check until it holds (the server commits asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_boot_notification_stores_boot_info(server):
    async with station_session(server, "CP-BOOT", boot=False) as cp:
        reply = await cp.call(
            call.BootNotification(
                charge_point_vendor="ACME",
                charge_point_model="Volt 22",
                charge_point_serial_number="SN-1",
                charge_box_serial_number="BOX-1",
                firmware_version="1.2.3",
                iccid="8931",
                imsi="2620",
                meter_type="EM-1",
                meter_serial_number="M-9",
            )
        )
        assert reply.status == "Accepted"
        assert reply.interval == 300
        assert abs(datetime.fromisoformat(reply.current_time) - datetime.now(UTC)) < timedelta(seconds=5)
    station = await Station.objects.aget(station_id="CP-BOOT")
    assert (station.vendor, station.model, station.serial_number) == ("ACME", "Volt 22", "SN-1")
    assert (station.charge_box_serial_number, station.firmware_version) == ("BOX-1", "1.2.3")
    assert (station.iccid, station.imsi, station.meter_type, station.meter_serial_number) == (
        "8931",
        "2620",
        "EM-1",
        "M-9",
    )
    assert station.last_boot_at is not None


async def test_heartbeat_answers_current_time(server):
    async with station_session(server, "CP-HB") as cp:
        reply = await cp.call(call.Heartbeat())
    assert abs(datetime.fromisoformat(reply.current_time) - datetime.now(UTC)) < timedelta(seconds=5)


async def test_status_notification_keeps_current_status_and_history(server):
    async with station_session(server, "CP-STATUS") as cp:
        await cp.call(call.StatusNotification(connector_id=0, error_code="NoError", status="Available"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        await cp.call(
            call.StatusNotification(
                connector_id=1,
                error_code="GroundFailure",
                status="Faulted",
                info="RCD tripped",
                vendor_id="ACME",
                vendor_error_code="E42",
                timestamp="2026-01-01T10:00:00+01:00",
            )
        )
    connector = await Connector.objects.aget(station__station_id="CP-STATUS", connector_id=1)
    assert (connector.status, connector.error_code, connector.info) == (
        "Faulted",
        "GroundFailure",
        "RCD tripped",
    )
    assert (connector.vendor_id, connector.vendor_error_code) == ("ACME", "E42")
    assert connector.status_timestamp == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert await Connector.objects.filter(station__station_id="CP-STATUS", connector_id=0).aexists()

    async def history():
        statuses = [
            s
            async for s in StatusRecord.objects.filter(station__station_id="CP-STATUS", connector_id=1)
            .order_by("id")
            .values_list("status", flat=True)
        ]
        assert statuses == ["Preparing", "Faulted"]

    await eventually(history)


@pytest.fixture
def tags(transactional_db):
    owner = UserFactory()
    now = datetime.now(UTC)
    return {
        "ok": IdTagFactory(
            id_tag="OK", owner=owner, parent_id_tag="GROUP1", expiry_date=now + timedelta(days=30)
        ),
        "blocked": IdTagFactory(id_tag="BLOCKED", status="Blocked"),
        "expired": IdTagFactory(id_tag="EXPIRED", expiry_date=now - timedelta(days=1)),
        "invalid": IdTagFactory(id_tag="LISTEDINVALID", status="Invalid"),
        "noowner": IdTagFactory(id_tag="NOOWNER", owner=None),
    }


async def test_authorize_answers_from_id_tag_table(server, tags):
    async with station_session(server, "CP-AUTH") as cp:
        ok = await cp.call(call.Authorize(id_tag="OK"))
        lower = await cp.call(call.Authorize(id_tag="ok"))
        blocked = await cp.call(call.Authorize(id_tag="BLOCKED"))
        expired = await cp.call(call.Authorize(id_tag="EXPIRED"))
        listed_invalid = await cp.call(call.Authorize(id_tag="LISTEDINVALID"))
        unknown = await cp.call(call.Authorize(id_tag="NOBODY"))
        no_owner = await cp.call(call.Authorize(id_tag="NOOWNER"))
    assert ok.id_tag_info["status"] == "Accepted"
    assert ok.id_tag_info["parent_id_tag"] == "GROUP1"
    assert "expiry_date" in ok.id_tag_info
    assert lower.id_tag_info["status"] == "Accepted"  # idToken is case-insensitive
    assert blocked.id_tag_info["status"] == "Blocked"
    assert expired.id_tag_info["status"] == "Expired"
    assert listed_invalid.id_tag_info["status"] == "Invalid"
    assert unknown.id_tag_info == {"status": "Invalid"}
    assert no_owner.id_tag_info["status"] == "Accepted"


async def test_start_transaction_gives_unique_ids_and_concurrent_tx(server, tags):
    async with station_session(server, "CP-TX1") as a, station_session(server, "CP-TX2") as b:
        first = await a.call(
            call.StartTransaction(connector_id=1, id_tag="OK", meter_start=0, timestamp=now_iso())
        )
        other = await b.call(
            call.StartTransaction(connector_id=1, id_tag="OK", meter_start=0, timestamp=now_iso())
        )
        blocked = await b.call(
            call.StartTransaction(connector_id=2, id_tag="BLOCKED", meter_start=5, timestamp=now_iso())
        )
    assert first.id_tag_info["status"] == "Accepted"
    assert other.id_tag_info["status"] == "ConcurrentTx"
    assert blocked.id_tag_info["status"] == "Blocked"
    ids = {first.transaction_id, other.transaction_id, blocked.transaction_id}
    assert len(ids) == 3
    assert await Transaction.objects.filter(pk__in=ids).acount() == 3


async def test_repeated_identical_start_returns_same_transaction(server, tags):
    request = call.StartTransaction(connector_id=1, id_tag="OK", meter_start=1234, timestamp=now_iso())
    async with station_session(server, "CP-RETRY") as cp:
        first = await cp.call(request)
        again = await cp.call(request)
    assert again.transaction_id == first.transaction_id
    assert await Transaction.objects.filter(station__station_id="CP-RETRY").acount() == 1
    assert await Session.objects.filter(station__station_id="CP-RETRY").acount() == 1


async def test_meter_values_stored_normalised(server, tags):
    async with station_session(server, "CP-MV") as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="OK", meter_start=1000, timestamp=now_iso())
        )
        tx_id = started.transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=[
                    {
                        "timestamp": now_iso(),
                        "sampledValue": [
                            {"value": "2.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register"},
                            {"value": "2600"},  # no measurand: the energy register, Wh
                            {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                            {
                                "value": "16.1",
                                "measurand": "Current.Import",
                                "unit": "A",
                                "phase": "L1",
                                "context": "Sample.Periodic",
                                "location": "Outlet",
                            },
                            {"value": "16.3", "measurand": "Current.Import", "unit": "A", "phase": "L2"},
                        ],
                    }
                ],
            )
        )

        async def stored():
            rows = [
                (m.measurand, m.value, m.unit, m.phase)
                async for m in MeterValue.objects.filter(transaction_id=tx_id).order_by("id")
            ]
            assert rows == [
                ("Energy.Active.Import.Register", "2500", "Wh", ""),
                ("Energy.Active.Import.Register", "2600", "Wh", ""),
                ("Power.Active.Import", "7.2", "kW", ""),
                ("Current.Import", "16.1", "A", "L1"),
                ("Current.Import", "16.3", "A", "L2"),
            ]

        await eventually(stored)
        row = await MeterValue.objects.aget(transaction_id=tx_id, phase="L1")
        assert (row.context, row.location) == ("Sample.Periodic", "Outlet")
        session = await Session.objects.aget(transaction_id=tx_id)
        assert session.energy_kwh == Decimal("1.600")  # live: 2600 - 1000 Wh


async def test_stop_transaction_closes_and_keeps_transaction_data(server, tags):
    async with station_session(server, "CP-STOP") as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="OK", meter_start=100, timestamp=now_iso())
        )
        reply = await cp.call(
            call.StopTransaction(
                meter_stop=5100,
                timestamp=now_iso(),
                transaction_id=started.transaction_id,
                reason="EVDisconnected",
                id_tag="OK",
                transaction_data=[
                    {"timestamp": now_iso(), "sampledValue": [{"value": "5.1", "unit": "kWh"}]}
                ],
            )
        )
    assert reply.id_tag_info["status"] == "Accepted"
    tx = await Transaction.objects.aget(pk=started.transaction_id)
    assert (tx.meter_stop, tx.stop_reason) == (5100, "EVDisconnected")
    assert tx.stopped_at is not None and tx.transaction_data
    assert await MeterValue.objects.filter(transaction_id=tx.pk, value="5100", unit="Wh").aexists()
    session = await Session.objects.aget(transaction_id=tx.pk)
    assert session.status == "completed" and session.energy_kwh == Decimal("5.000")


@pytest.mark.parametrize("transaction_id", [-1, 0, 987654])
async def test_stop_with_unknown_transaction_is_answered_and_recorded(server, transaction_id):
    async with station_session(server, "CP-UNKNOWN") as cp:
        reply = await cp.call(
            call.StopTransaction(
                meter_stop=10, timestamp=now_iso(), transaction_id=transaction_id, id_tag="X"
            )
        )
    assert reply.id_tag_info == {"status": "Invalid"}
    assert await UnmatchedStop.objects.filter(transaction_id=transaction_id).aexists()


async def test_repeated_stop_after_reboot_is_answered_and_recorded(server, tags):
    async with station_session(server, "CP-REBOOT") as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="OK", meter_start=0, timestamp=now_iso())
        )
        stop = call.StopTransaction(
            meter_stop=900, timestamp=now_iso(), transaction_id=started.transaction_id
        )
        await cp.call(stop)
    async with station_session(server, "CP-REBOOT") as cp:
        reply = await cp.call(stop)
    assert reply is not None
    tx = await Transaction.objects.aget(pk=started.transaction_id)
    assert tx.meter_stop == 900
    assert await UnmatchedStop.objects.filter(transaction_id=started.transaction_id).acount() == 1


async def test_data_transfer_is_stored_and_unknown_vendor(server):
    async with station_session(server, "CP-DT") as cp:
        reply = await cp.call(call.DataTransfer(vendor_id="com.acme", message_id="hello", data='{"a":1}'))
    assert reply.status == "UnknownVendorId"
    record = await DataTransferRecord.objects.aget(station__station_id="CP-DT")
    assert (record.vendor_id, record.message_id, record.data) == ("com.acme", "hello", '{"a":1}')


async def test_diagnostics_and_firmware_status_latest_and_history(server):
    async with station_session(server, "CP-FW") as cp:
        await cp.call(call.FirmwareStatusNotification(status="Downloading"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    station = await Station.objects.aget(station_id="CP-FW")
    assert station.firmware_status == "Installed"
    assert station.diagnostics_status == "Uploaded"
    history = [(e.kind, e.status) async for e in StationEvent.objects.filter(station=station).order_by("id")]
    assert history == [("firmware", "Downloading"), ("firmware", "Installed"), ("diagnostics", "Uploaded")]


async def test_every_frame_is_in_the_message_log(server):
    from stations.models import MessageLog

    async with station_session(server, "CP-LOGGED") as cp:
        await cp.call(call.Heartbeat())

    async def logged():
        rows = {
            (m.direction, m.message_type, m.action)
            async for m in MessageLog.objects.filter(station_id="CP-LOGGED")
        }
        assert {
            ("in", "CALL", "BootNotification"),
            ("out", "CALLRESULT", "BootNotification"),
            ("in", "CALL", "Heartbeat"),
            ("out", "CALLRESULT", "Heartbeat"),
            ("out", "CALL", "GetConfiguration"),
            ("in", "CALLRESULT", "GetConfiguration"),
        } <= rows

    await eventually(logged)


async def test_id_tag_table_is_consulted_live(server, tags):
    await sync_to_async(IdTag.objects.filter(id_tag="OK").update)(status="Blocked")
    async with station_session(server, "CP-LIVE") as cp:
        reply = await cp.call(call.Authorize(id_tag="OK"))
    assert reply.id_tag_info["status"] == "Blocked"


async def test_stop_transaction_forgets_the_connectors_tx_profile(server, tags):
    from stations.models import InstalledChargingProfile

    async with station_session(server, "CP-TXP") as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="OK", meter_start=0, timestamp=now_iso())
        )
        station = await Station.objects.aget(station_id="CP-TXP")
        for purpose, profile_id in (("TxProfile", 1), ("TxDefaultProfile", 2)):
            await InstalledChargingProfile.objects.acreate(
                station=station,
                connector_id=1,
                charging_profile_id=profile_id,
                purpose=purpose,
                stack_level=0,
                profile={},
                installed_at=datetime.now(UTC),
            )
        await cp.call(
            call.StopTransaction(meter_stop=10, timestamp=now_iso(), transaction_id=started.transaction_id)
        )
    purposes = [
        p
        async for p in InstalledChargingProfile.objects.filter(station=station).values_list(
            "purpose", flat=True
        )
    ]
    assert purposes == ["TxDefaultProfile"]


async def test_after_boot_the_station_configuration_is_fetched_and_kept(server):
    async def stored():
        station = await Station.objects.aget(station_id="CP-CONF")
        assert station.configuration.get("HeartbeatInterval") == {"value": "300", "readonly": False}
        assert station.configuration.get("NumberOfConnectors") == {"value": "2", "readonly": True}

    async with station_session(server, "CP-CONF") as cp:
        await cp.wait_for("GetConfiguration")
        await eventually(stored)
