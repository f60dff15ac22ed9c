from datetime import UTC, datetime

import pytest

from billing.models import Transaction
from stations.models import Connector
from tests.factories import IdTagFactory, StationFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def station():
    station = StationFactory(
        station_id="CP:01#A+B.2",
        vendor="ACME",
        model="Fast-50",
        serial_number="SN-1",
        charge_box_serial_number="CB-1",
        firmware_version="2.3.4",
        iccid="8931",
        imsi="2620",
        meter_type="DC",
        meter_serial_number="M-1",
        last_boot_at=T0,
        last_seen=T0,
        firmware_status="Installed",
        firmware_status_at=T0,
        diagnostics_status="Uploaded",
        diagnostics_status_at=T0,
    )
    Connector.objects.create(
        station=station,
        connector_id=1,
        status="Charging",
        error_code="NoError",
        vendor_error_code="E0",
        status_timestamp=T0,
    )
    Connector.objects.create(station=station, connector_id=0, status="Available", error_code="NoError")
    return station


PATH = "/ocpp/status/CP%3A01%23A%2BB.2"


def _open(station, id_tag, connector_id=1, meter_start=1000, last_meter_wh=None):
    return Transaction.objects.create(
        station=station,
        connector_id=connector_id,
        id_tag=id_tag,
        meter_start=meter_start,
        started_at=T0,
        last_meter_wh=last_meter_wh,
        last_meter_at=T0 if last_meter_wh is not None else None,
    )


def test_status_is_for_every_signed_in_user(api, station):
    codes = {role: client.get(PATH).status_code for role, client in api.items()}
    assert codes == {"anon": 401, "client": 200, "operator": 200, "admin": 200, "superadmin": 200}


def test_unknown_station_status_is_404(api):
    response = api["client"].get("/ocpp/status/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_status_shows_boot_info_registration_and_diagnostics(api, station):
    body = api["client"].get(PATH).json()
    assert body["station_id"] == "CP:01#A+B.2"
    assert body["online"] is False
    assert body["connected_since"] is None
    assert body["last_seen"] == "2024-05-01T12:00:00Z"
    assert body["registration_status"] == "accepted"
    assert {k: body[k] for k in ("vendor", "model", "serial_number", "firmware_version")} == {
        "vendor": "ACME",
        "model": "Fast-50",
        "serial_number": "SN-1",
        "firmware_version": "2.3.4",
    }
    assert (body["charge_box_serial_number"], body["iccid"], body["imsi"]) == ("CB-1", "8931", "2620")
    assert (body["meter_type"], body["meter_serial_number"]) == ("DC", "M-1")
    assert body["last_boot_at"] == "2024-05-01T12:00:00Z"
    assert (body["firmware_status"], body["diagnostics_status"]) == ("Installed", "Uploaded")
    assert body["time_zone"] == station.time_zone


def test_status_lists_connectors_with_status_and_error_code(api, station):
    connectors = api["client"].get(PATH).json()["connectors"]
    assert [c["connector_id"] for c in connectors] == [0, 1]
    one = connectors[1]
    assert (one["status"], one["error_code"], one["vendor_error_code"]) == ("Charging", "NoError", "E0")
    assert one["status_timestamp"] == "2024-05-01T12:00:00Z"
    assert one["updated_at"]


def test_status_online_from_presence(api, station, live):
    live.connect("CP:01#A+B.2", since="2024-05-01T11:00:00Z", last_seen="2024-05-01T12:05:00Z")
    body = api["client"].get(PATH).json()
    assert body["online"] is True
    assert body["connected_since"] == "2024-05-01T11:00:00Z"
    assert body["last_seen"] == "2024-05-01T12:05:00Z"


def test_active_transactions_with_energy_so_far(api, station):
    _open(station, "TAG1", meter_start=1000, last_meter_wh=3500)
    closed = _open(station, "TAG2", connector_id=2)
    closed.stopped_at = T0
    closed.save()
    active = api["operator"].get(PATH).json()["active_transactions"]
    assert len(active) == 1
    assert active[0] == {
        "transaction_id": active[0]["transaction_id"],
        "connector_id": 1,
        "id_tag": "TAG1",
        "meter_start": 1000,
        "started_at": "2024-05-01T12:00:00Z",
        "energy_kwh": "2.500",
        "last_meter_at": "2024-05-01T12:00:00Z",
    }


def test_active_transaction_without_samples_has_zero_energy(api, station):
    _open(station, "TAG1")
    assert api["operator"].get(PATH).json()["active_transactions"][0]["energy_kwh"] == "0.000"


def test_client_sees_only_its_own_tags_on_active_transactions(api, users, station):
    IdTagFactory(id_tag="MyTag", owner=users["client"])
    IdTagFactory(id_tag="OTHER")
    _open(station, "mytag", connector_id=1)  # stations may send another case
    _open(station, "OTHER", connector_id=2)
    seen = {t["connector_id"]: t["id_tag"] for t in api["client"].get(PATH).json()["active_transactions"]}
    assert seen == {1: "mytag", 2: None}
    staff = {t["connector_id"]: t["id_tag"] for t in api["operator"].get(PATH).json()["active_transactions"]}
    assert staff == {1: "mytag", 2: "OTHER"}


def test_status_query_count_is_constant(api, station, django_assert_max_num_queries):
    for connector_id in range(2, 10):
        _open(station, f"T{connector_id}", connector_id=connector_id)
    client = api["client"]
    # token + station + connectors + own tags + transactions
    with django_assert_max_num_queries(5):
        assert len(client.get(PATH).json()["active_transactions"]) == 8
