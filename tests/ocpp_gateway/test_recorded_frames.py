"""Frames recorded from real stations' quirks, replayed as they came."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from billing.models import MeterValue, Session, Transaction

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "frames").glob("*.json"))


def _substitute(payload: dict, tx_id: int | None) -> dict:
    return {k: (tx_id if v == "$tx" else v) for k, v in payload.items()}


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
async def test_recorded_station_is_understood(raw_station, fixture):
    recording = json.loads(fixture.read_text())
    station = await raw_station(f"REC-{fixture.stem[:40]}")
    tx_id = None
    for _, unique_id, action, payload in recording["frames"]:
        await station.comm.send_to(text_data=json.dumps([2, unique_id, action, _substitute(payload, tx_id)]))
        reply = await station.reply(unique_id)
        assert reply[0] == 3, (action, reply)
        if action == "StartTransaction":
            tx_id = reply[2]["transactionId"]
            assert isinstance(tx_id, int)
    from ocpp_gateway.runtime import committer

    await committer().drain()
    tx = await Transaction.objects.aget(pk=tx_id)
    assert tx.stopped_at is not None and tx.started_at.tzinfo is not None
    session = await Session.objects.aget(transaction=tx)
    assert session.status == "completed"
    assert session.energy_kwh == Decimal(recording["expect"]["energy_kwh"])
    assert await MeterValue.objects.filter(
        transaction=tx,
        measurand="Energy.Active.Import.Register",
        phase="",
        unit="Wh",
        value=recording["expect"]["sample_wh"],
    ).aexists()
