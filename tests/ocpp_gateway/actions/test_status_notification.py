"""StatusNotification, end to end: a real Daphne process, a real ocpp client."""

from datetime import UTC, datetime

import pytest
from ocpp.v16 import call

from stations.models import Connector, StatusRecord
from tests.station import eventually, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


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
