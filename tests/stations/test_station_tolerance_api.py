"""A station's tolerance policy through the API: lenient, strict, or null for the network default."""

import pytest

from stations.models import Station

pytestmark = pytest.mark.django_db


def test_station_tolerance_is_set_cleared_and_checked(api):
    created = api["admin"].post("/ocpp/stations", {"station_id": "CP-TOL"}, format="json")
    assert created.status_code == 201
    assert created.json()["tolerance"] is None

    strict = api["admin"].patch("/ocpp/stations/CP-TOL", {"tolerance": "strict"}, format="json")
    assert strict.status_code == 200 and strict.json()["tolerance"] == "strict"
    assert Station.objects.get(station_id="CP-TOL").tolerance == "strict"

    default = api["admin"].patch("/ocpp/stations/CP-TOL", {"tolerance": None}, format="json")
    assert default.status_code == 200 and default.json()["tolerance"] is None
    assert Station.objects.get(station_id="CP-TOL").tolerance == ""

    wrong = api["admin"].patch("/ocpp/stations/CP-TOL", {"tolerance": "sloppy"}, format="json")
    assert wrong.status_code == 400
    assert "tolerance" in wrong.json()["fields"]
    assert (
        api["operator"].patch("/ocpp/stations/CP-TOL", {"tolerance": "strict"}, format="json").status_code
        == 403
    )
