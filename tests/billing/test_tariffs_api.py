"""`/ocpp/tariffs`: write admin+, read client+; validated so that every stored tariff can be priced."""

import pytest

from billing.models import Session, Tariff
from billing.tariffs import tariff_applicable, tariff_snapshot
from tests.factories import IdTagFactory, StationFactory

pytestmark = pytest.mark.django_db

URL = "/ocpp/tariffs"
ROLES = ["anon", "client", "operator", "admin", "superadmin"]

NIGHT = {
    "days": [1, 2, 3, 4, 5],
    "start": "22:00",
    "end": "06:00",
    "price_per_kwh": "0.20",
    "price_per_minute": "0",
    "idle_fee_per_minute": "0.05",
}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The role fixtures hash a password per user; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def body(**fields):
    return {"name": "Standard", "currency": "EUR", "price_per_kwh": "0.35", **fields}


def make_tariff(**fields) -> Tariff:
    return Tariff.objects.create(**{"name": "T", "currency": "EUR", **fields})


# Roles --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anon", 401), ("client", 200), ("operator", 200), ("admin", 200), ("superadmin", 200)],
)
def test_everyone_signed_in_reads_tariffs(api, role, expected):
    tariff = make_tariff()
    assert api[role].get(URL).status_code == expected
    assert api[role].get(f"{URL}/{tariff.pk}").status_code == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anon", 401), ("client", 403), ("operator", 403), ("admin", 201), ("superadmin", 201)],
)
def test_only_admins_create_tariffs(api, role, expected):
    response = api[role].post(URL, body(), format="json")
    assert response.status_code == expected
    assert Tariff.objects.count() == (1 if expected == 201 else 0)


@pytest.mark.parametrize(
    ("role", "patch", "delete"),
    [
        ("anon", 401, 401),
        ("client", 403, 403),
        ("operator", 403, 403),
        ("admin", 200, 204),
        ("superadmin", 200, 204),
    ],
)
def test_only_admins_change_and_delete_tariffs(api, role, patch, delete):
    tariff = make_tariff()
    assert api[role].patch(f"{URL}/{tariff.pk}", {"name": "New"}, format="json").status_code == patch
    assert api[role].delete(f"{URL}/{tariff.pk}").status_code == delete


# Create and read ----------------------------------------------------------------------


def test_create_stores_every_field_and_answers_the_tariff(api):
    StationFactory(station_id="CP:01#A")
    StationFactory(station_id="CP-2")
    response = api["admin"].post(
        URL,
        body(
            currency="eur",
            price_per_minute="0.02",
            session_fee="1",
            idle_fee_per_minute="0.10",
            idle_grace_minutes=15,
            periods=[NIGHT],
            valid_from="2024-01-01T00:00:00Z",
            valid_to="2025-01-01T00:00:00+01:00",
            stations=["CP-2", "CP:01#A"],
        ),
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["currency"] == "EUR"
    assert (data["price_per_kwh"], data["price_per_minute"], data["session_fee"]) == (
        "0.3500",
        "0.0200",
        "1.0000",
    )
    assert (data["idle_fee_per_minute"], data["idle_grace_minutes"]) == ("0.1000", 15)
    assert data["periods"] == [
        {**NIGHT, "price_per_kwh": "0.2000", "price_per_minute": "0.0000", "idle_fee_per_minute": "0.0500"}
    ]
    assert (data["valid_from"], data["valid_to"]) == ("2024-01-01T00:00:00Z", "2024-12-31T23:00:00Z")
    assert sorted(data["stations"]) == ["CP-2", "CP:01#A"]
    assert data["is_active"] is True
    tariff = Tariff.objects.get(pk=data["id"])
    # Stored the way billing reads it back.
    assert tariff_snapshot(tariff)["periods"][0]["start"] == "22:00"
    assert api["client"].get(f"{URL}/{tariff.pk}").json() == data


def test_prices_default_to_zero_and_stations_to_the_network(api):
    data = api["admin"].post(URL, {"name": "Free", "currency": "USD"}, format="json").json()
    assert (data["price_per_kwh"], data["session_fee"], data["periods"], data["stations"]) == (
        "0.0000",
        "0.0000",
        [],
        [],
    )


def test_list_is_newest_first_paginated_with_a_fixed_query_count(api, django_assert_max_num_queries):
    stations = [StationFactory() for _ in range(3)]
    for n in range(5):
        tariff = make_tariff(name=f"T{n}")
        tariff.stations.set(stations)
    with django_assert_max_num_queries(5):  # auth, count, page, stations prefetch
        data = api["client"].get(URL).json()
    assert data["count"] == 5 and data["next"] is None
    assert [t["name"] for t in data["results"]] == ["T4", "T3", "T2", "T1", "T0"]
    assert len(data["results"][0]["stations"]) == 3


# Validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"price_per_kwh": "-0.01"}, "price_per_kwh"),
        ({"price_per_minute": "1000000"}, "price_per_minute"),
        ({"session_fee": "abc"}, "session_fee"),
        ({"session_fee": "NaN"}, "session_fee"),
        ({"idle_fee_per_minute": "0.000001"}, "idle_fee_per_minute"),
        ({"idle_grace_minutes": -1}, "idle_grace_minutes"),
        ({"name": ""}, "name"),
        ({"stations": ["NOPE"]}, "stations"),
        ({"periods": "night"}, "periods"),
        ({"periods": [{**NIGHT, "days": [0]}]}, "periods"),
        ({"periods": [{**NIGHT, "days": []}]}, "periods"),
        ({"periods": [{**NIGHT, "start": "25:00"}]}, "periods"),
        ({"periods": [{**NIGHT, "end": "6:00"}]}, "periods"),
        ({"periods": [{**NIGHT, "price_per_kwh": "-1"}]}, "periods"),
        ({"periods": [{k: v for k, v in NIGHT.items() if k != "idle_fee_per_minute"}]}, "periods"),
        ({"valid_from": "2025-01-01T00:00:00Z", "valid_to": "2024-01-01T00:00:00Z"}, "valid_to"),
        ({"valid_from": "yesterday"}, "valid_from"),
    ],
)
def test_invalid_tariffs_are_refused_with_field_messages(api, fields, field):
    response = api["admin"].post(URL, body(**fields), format="json")
    assert response.status_code == 400
    data = response.json()
    assert data["error"] == "validation_error"
    assert field in data["fields"], data
    assert Tariff.objects.count() == 0


def test_a_bad_period_says_what_is_wrong(api):
    response = api["admin"].post(URL, body(periods=[NIGHT, {**NIGHT, "start": "7pm"}]), format="json")
    assert response.status_code == 400
    assert "start" in str(response.json()["fields"]["periods"][1])


def test_required_fields(api):
    response = api["admin"].post(URL, {}, format="json")
    assert response.status_code == 400
    assert {"name", "currency"} <= set(response.json()["fields"])


def test_malformed_json_is_a_400(api):
    response = api["admin"].post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400


# Update and delete -------------------------------------------------------------------


def test_patch_changes_only_what_is_given_and_replaces_stations(api):
    old, new = StationFactory(station_id="OLD"), StationFactory(station_id="NEW")
    tariff = make_tariff(price_per_kwh="0.30", session_fee="1.00")
    tariff.stations.set([old])
    response = api["admin"].patch(
        f"{URL}/{tariff.pk}", {"price_per_kwh": "0.40", "stations": ["NEW"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    tariff.refresh_from_db()
    assert (str(tariff.price_per_kwh), str(tariff.session_fee)) == ("0.4000", "1.0000")
    assert list(tariff.stations.all()) == [new]
    api["admin"].patch(f"{URL}/{tariff.pk}", {"stations": []}, format="json")
    assert tariff_applicable(station_pk=old.pk, at=tariff.created_at) == tariff  # now the network default


def test_patch_validates_the_window_against_stored_values(api):
    tariff = make_tariff()
    api["admin"].patch(f"{URL}/{tariff.pk}", {"valid_from": "2024-06-01T00:00:00Z"}, format="json")
    response = api["admin"].patch(f"{URL}/{tariff.pk}", {"valid_to": "2024-05-01T00:00:00Z"}, format="json")
    assert response.status_code == 400 and "valid_to" in response.json()["fields"]


def test_is_active_is_read_only(api):
    tariff = make_tariff()
    api["admin"].patch(f"{URL}/{tariff.pk}", {"is_active": False}, format="json")
    tariff.refresh_from_db()
    assert tariff.is_active is True


def test_put_is_not_allowed(api):
    tariff = make_tariff()
    assert api["admin"].put(f"{URL}/{tariff.pk}", body(), format="json").status_code == 405


def test_unknown_tariff_is_a_json_404(api):
    response = api["admin"].get(f"{URL}/999999")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert api["admin"].patch(f"{URL}/999999/", {"name": "x"}, format="json").status_code == 404


def test_deleting_an_unused_tariff_removes_it(api):
    tariff = make_tariff()
    assert api["admin"].delete(f"{URL}/{tariff.pk}").status_code == 204
    assert api["admin"].get(f"{URL}/{tariff.pk}").status_code == 404


def test_deleting_a_used_tariff_archives_it(api):
    station = StationFactory()
    tariff = make_tariff(price_per_kwh="0.30")
    tag = IdTagFactory()
    Session.objects.create(
        station=station,
        connector_id=1,
        id_tag=tag.id_tag,
        tariff=tariff,
        tariff_snapshot=tariff_snapshot(tariff),
    )
    assert api["admin"].delete(f"{URL}/{tariff.pk}").status_code == 204
    data = api["client"].get(f"{URL}/{tariff.pk}").json()
    assert data["is_active"] is False and data["price_per_kwh"] == "0.3000"
    assert tariff_applicable(station_pk=station.pk, at=tariff.created_at) is None
    assert [t["id"] for t in api["client"].get(URL, {"is_active": "false"}).json()["results"]] == [tariff.pk]
    assert api["client"].get(URL, {"is_active": "true"}).json()["count"] == 0
    assert api["client"].get(URL).json()["count"] == 1  # archived ones stay listed
