"""MeterValues, end to end: a real Daphne process, a real ocpp client."""

from decimal import Decimal

import pytest
from ocpp.v16 import call

from billing.models import MeterValue, Session
from tests.station import eventually, now_iso, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


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


NO_TRANSACTION = 2**63 - 1  # what an Alfen firmware sends for "no transaction"


@pytest.mark.parametrize("transaction_id", [NO_TRANSACTION, -5])
async def test_meter_values_for_a_transaction_id_we_never_issued_are_answered_and_kept(
    server, transaction_id
):
    async with station_session(server, "CP-ALFEN") as cp:
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=transaction_id,
                meter_value=[{"timestamp": now_iso(), "sampledValue": [{"value": "1234"}]}],
            )
        )

        async def stored():
            row = await MeterValue.objects.filter(station__station_id="CP-ALFEN").afirst()
            assert row is not None
            assert (row.transaction_id, row.foreign_transaction_id, row.value) == (
                None,
                transaction_id,
                "1234",
            )

        await eventually(stored)
