import pytest
from ocpp.v16 import call

from billing.models import Transaction
from tests.station import now_iso, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_boot_start_stop_round_trip(server):
    async with station_session(server, "CP:01#A+B.2") as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=100, timestamp=now_iso())
        )
        await cp.call(
            call.StopTransaction(meter_stop=600, timestamp=now_iso(), transaction_id=started.transaction_id)
        )
    tx = await Transaction.objects.select_related("station").aget(pk=started.transaction_id)
    assert tx.station.station_id == "CP:01#A+B.2"
    assert (tx.meter_start, tx.meter_stop) == (100, 600)
