"""StartTransaction, end to end: a real Daphne process, a real ocpp client."""

import pytest
from ocpp.v16 import call

from billing.models import Session, Transaction
from tests.station import now_iso, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


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


async def test_a_repeated_start_gets_the_first_answer_also_when_the_tag_is_busy(server, tags):
    async with station_session(server, "CP-BUSY1") as a, station_session(server, "CP-BUSY2") as b:
        await a.call(call.StartTransaction(connector_id=1, id_tag="OK", meter_start=0, timestamp=now_iso()))
        request = call.StartTransaction(connector_id=1, id_tag="OK", meter_start=1000, timestamp=now_iso())
        first = await b.call(request)
        again = await b.call(request)
    assert first.id_tag_info["status"] == "ConcurrentTx"
    assert (again.transaction_id, again.id_tag_info) == (first.transaction_id, first.id_tag_info)
