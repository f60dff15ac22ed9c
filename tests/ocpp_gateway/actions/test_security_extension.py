"""The OCPP 1.6 security extension on plain 1.6J: SecurityEventNotification,
SignCertificate, LogStatusNotification, SignedFirmwareStatusNotification are
answered by the extension's schemas and kept in the station's history, end to
end (real server; the `ocpp` client validates our answers)."""

from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from stations.models import Station
from tests.live import http
from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CSR = (
    "-----BEGIN CERTIFICATE REQUEST-----\n"
    "MIIBVjCB/gIBADCBmzELMAkGA1UEBhMCREU=\n"
    "-----END CERTIFICATE REQUEST-----\n"
)


async def test_security_extension_messages_are_answered_and_listed_as_events(server, live_token):
    token = await sync_to_async(live_token)("operator")
    async with station_session(server, "CP-SEC#1") as cp:
        answer = await cp.call(
            call.SecurityEventNotification(
                type="SettingSystemTime", timestamp="2026-03-01T10:00:00Z", tech_info="NTP sync"
            )
        )
        assert answer is not None
        signed = await cp.call(call.SignCertificate(csr=CSR))
        assert signed.status == "Accepted"
        await cp.call(call.LogStatusNotification(status="Uploaded", request_id=7))
        await cp.call(call.SignedFirmwareStatusNotification(status="SignatureVerified", request_id=8))

    response = await http(server, "GET", f"/ocpp/stations/{quote('CP-SEC#1', safe='')}/events", token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 4
    events = [(e["kind"], e["status"], e["request_id"]) for e in body["results"]]
    assert events == [
        ("signed_firmware", "SignatureVerified", 8),
        ("log", "Uploaded", 7),
        ("certificate", "Accepted", None),
        ("security", "SettingSystemTime", None),
    ]
    security = body["results"][-1]
    assert security["timestamp"] == "2026-03-01T10:00:00Z"
    assert security["detail"] == "NTP sync"
    assert body["results"][2]["detail"] == CSR
    station = await Station.objects.aget(station_id="CP-SEC#1")
    assert station.firmware_status == "SignatureVerified"


async def test_events_filter_by_kind_and_are_for_operators(server, live_token):
    async with station_session(server, "CP-SEC2") as cp:
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
        await cp.call(
            call.SecurityEventNotification(
                type="TamperDetectionActivated", timestamp="2026-03-01T10:00:00Z", tech_info=None
            )
        )
    operator = await sync_to_async(live_token)("operator")
    client = await sync_to_async(live_token)("client")
    only = await http(server, "GET", "/ocpp/stations/CP-SEC2/events?kind=security", operator)
    assert [e["status"] for e in only.json()["results"]] == ["TamperDetectionActivated"]
    assert (await http(server, "GET", "/ocpp/stations/CP-SEC2/events", client)).status_code == 403
    assert (await http(server, "GET", "/ocpp/stations/CP-SEC2/events")).status_code == 401
    assert (await http(server, "GET", "/ocpp/stations/NOPE/events", operator)).status_code == 404
