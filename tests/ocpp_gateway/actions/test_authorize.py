"""Authorize, end to end: a real Daphne process, a real ocpp client."""

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from stations.models import IdTag
from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


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


async def test_id_tag_table_is_consulted_live(server, tags):
    await sync_to_async(IdTag.objects.filter(id_tag="OK").update)(status="Blocked")
    async with station_session(server, "CP-LIVE") as cp:
        reply = await cp.call(call.Authorize(id_tag="OK"))
    assert reply.id_tag_info["status"] == "Blocked"
