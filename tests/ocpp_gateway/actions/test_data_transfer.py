"""DataTransfer, end to end: a real Daphne process, a real ocpp client."""

import pytest
from ocpp.v16 import call

from stations.models import DataTransferRecord
from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_data_transfer_is_stored_and_unknown_vendor(server):
    async with station_session(server, "CP-DT") as cp:
        reply = await cp.call(call.DataTransfer(vendor_id="com.acme", message_id="hello", data='{"a":1}'))
    assert reply.status == "UnknownVendorId"
    record = await DataTransferRecord.objects.aget(station__station_id="CP-DT")
    assert (record.vendor_id, record.message_id, record.data) == ("com.acme", "hello", '{"a":1}')
