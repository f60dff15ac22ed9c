"""StopTransaction, end to end: a real Daphne process, a real ocpp client."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from ocpp.v16 import call

from billing.models import MeterValue, Session, Transaction, UnmatchedStop
from stations.models import Station
from tests.station import now_iso, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


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


@pytest.mark.parametrize("transaction_id", [-1, 0, 987654, 2**63 - 1])
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
