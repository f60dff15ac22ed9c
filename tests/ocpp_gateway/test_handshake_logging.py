"""Every handshake refusal is logged once with its reason; connects and boots
are logged at INFO with the station's id (and vendor/model)."""

import logging

import pytest

from ocpp_gateway.runtime import committer
from tests.ocpp_gateway.conftest import Raw, communicator_for

pytestmark = pytest.mark.django_db(transaction=True)

LOGGER = "ocpp_gateway.consumers"


@pytest.fixture
async def writer():
    yield
    await committer().close()


async def refused(station_id: str, **kwargs) -> None:
    comm = await communicator_for(station_id, **kwargs)
    connected, _ = await comm.connect()
    assert not connected
    # As a server would: the refused socket's disconnect ends the consumer
    # (else its channel-layer read outlives the test's event loop).
    await comm.disconnect()


def records(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


@pytest.mark.parametrize(("subprotocols", "reason"), [([], "no subprotocol"), (["ocpp2.0.1"], "ocpp2.0.1")])
async def test_missing_or_wrong_subprotocol_is_logged(writer, caplog, subprotocols, reason):
    caplog.set_level(logging.INFO, logger=LOGGER)
    await refused("CP-SUB", subprotocols=subprotocols)
    [line] = records(caplog, logging.WARNING)
    assert "CP-SUB" in line and "ocpp1.6" in line and reason in line


@pytest.mark.parametrize("station_id", ["A" * 49, "bad\x07id"])
async def test_bad_station_id_is_logged(writer, caplog, station_id):
    caplog.set_level(logging.INFO, logger=LOGGER)
    await refused(station_id)
    [line] = records(caplog, logging.WARNING)
    assert "station id" in line and repr(station_id) in line


async def test_unknown_station_under_reject_policy_is_logged(writer, caplog, settings):
    settings.OCPP = {**settings.OCPP, "UNKNOWN_STATIONS": "reject"}
    caplog.set_level(logging.INFO, logger=LOGGER)
    await refused("CP-STRANGER")
    [line] = records(caplog, logging.WARNING)
    assert "CP-STRANGER" in line and "unknown" in line


async def test_connect_and_boot_are_logged_at_info(writer, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    comm = await communicator_for("CP-HELLO")
    assert (await comm.connect())[0]
    [connected] = records(caplog, logging.INFO)
    assert "CP-HELLO" in connected and "connected" in connected
    await Raw(comm).call("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "Volt 22"})
    booted = records(caplog, logging.INFO)[1]
    assert "CP-HELLO" in booted and "Acme" in booted and "Volt 22" in booted and "Accepted" in booted
    assert not records(caplog, logging.WARNING)
    await comm.disconnect()
