"""Tariffs in the Django admin: judged by the API's own validation, with the
same field messages, and periods edited as table rows instead of raw JSON."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from billing.models import Session, SessionStatus, Tariff, Transaction
from tests.factories import StationFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/billing/tariff/add/"
API = "/ocpp/tariffs"
T0 = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)


def change_url(tariff: Tariff) -> str:
    return f"/admin/billing/tariff/{tariff.pk}/change/"


@pytest.fixture
def browser(users) -> Client:
    client = Client()
    client.force_login(users["admin"])
    return client


def form(**fields) -> dict:
    """The add/change form as a browser posts it, with no period rows."""
    data = {
        "name": "Standard",
        "currency": "EUR",
        "price_per_kwh": "0.35",
        "price_per_minute": "",
        "session_fee": "",
        "idle_fee_per_minute": "",
        "idle_grace_minutes": "",
        "periods-rows": "3",
        "valid_from_0": "",
        "valid_from_1": "",
        "valid_to_0": "",
        "valid_to_1": "",
    }
    return data | fields


def row(i: int, days=(), **inputs) -> dict:
    return {f"periods-{i}-days": [str(d) for d in days]} | {f"periods-{i}-{k}": v for k, v in inputs.items()}


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, "the form was accepted"
    errors = response.context["adminform"].form.errors
    return {field: list(messages) for field, messages in errors.items()}


def api_errors(api, body: dict) -> dict:
    response = api["admin"].post(API, {"name": "Standard", **body}, format="json")
    assert response.status_code == 400
    return response.json()["fields"]


def lines(period_errors: list[dict]) -> list[str]:
    """The API's per-period messages as the admin shows them."""
    return [
        f"Period {n}, {field}: {message}"
        for n, problems in enumerate(period_errors, start=1)
        for field, messages in problems.items()
        for message in messages
    ]


def test_admin_refuses_an_unknown_currency_and_unreadable_periods_as_the_api_does(browser, api):
    response = browser.post(ADD, form(currency="XYZ", periods='[{"foo": 1}]'))
    errors = form_errors(response)
    assert Tariff.objects.count() == 0

    api_fields = api_errors(api, {"currency": "XYZ", "periods": [{"foo": 1}]})
    assert (
        errors["currency"]
        == api_fields["currency"]
        == ["'XYZ' is not an ISO 4217 currency code with a minor unit."]
    )
    assert errors["periods"] == lines(api_fields["periods"])
    assert "Period 1, foo: Unknown field." in errors["periods"]
    assert "Period 1, days: This field is required." in errors["periods"]
    assert Tariff.objects.count() == 0


def test_admin_change_form_refuses_the_same_and_keeps_the_tariff(browser):
    tariff = Tariff.objects.create(name="Good", currency="EUR", price_per_kwh="0.30")
    response = browser.post(change_url(tariff), form(name="Good", currency="XYZ", periods='[{"foo": 1}]'))
    errors = form_errors(response)
    assert {"currency", "periods"} <= set(errors)
    tariff.refresh_from_db()
    assert (tariff.currency, tariff.periods) == ("EUR", [])


def test_period_rows_are_saved_as_billing_reads_them(browser):
    station = StationFactory(station_id="CP-ADMIN")
    night = row(0, days=(1, 2, 3, 4, 5), start="22:00", end="06:00", price_per_kwh="0.20")
    weekend = row(1, days=(6, 7), start="00:00", end="24:00", price_per_kwh="0.25", idle_fee_per_minute="0.1")
    response = browser.post(ADD, form(currency="eur", stations=[station.pk], **night, **weekend))
    assert response.status_code == 302, form_errors(response)
    tariff = Tariff.objects.get()
    assert (tariff.currency, tariff.price_per_kwh, list(tariff.stations.all())) == (
        "EUR",
        Decimal("0.35"),
        [station],
    )
    assert tariff.periods == [
        {
            "days": [1, 2, 3, 4, 5],
            "start": "22:00",
            "end": "06:00",
            "price_per_kwh": "0.2000",
            "price_per_minute": "0.0000",
            "idle_fee_per_minute": "0.0000",
        },
        {
            "days": [6, 7],
            "start": "00:00",
            "end": "24:00",
            "price_per_kwh": "0.2500",
            "price_per_minute": "0.0000",
            "idle_fee_per_minute": "0.1000",
        },
    ]
    # The change form shows them as rows again, each removable.
    page = browser.get(change_url(tariff)).content.decode()
    assert 'name="periods-1-end" value="24:00"' in page
    assert 'name="periods-0-delete"' in page and 'name="periods-rows" value="5"' in page
    deleted = row(0, days=(1, 2, 3, 4, 5), start="22:00", end="06:00") | {"periods-0-delete": "on"}
    browser.post(change_url(tariff), form(**deleted, **weekend) | {"periods-rows": "5"})
    tariff.refresh_from_db()
    assert [p["days"] for p in tariff.periods] == [[6, 7]]


def test_a_bad_period_row_says_which_and_what(browser):
    response = browser.post(ADD, form(**row(0, days=(1,), start="7pm", end="06:00"), **row(1, days=(9,))))
    errors = form_errors(response)["periods"]
    assert any(line.startswith("Period 1, start:") for line in errors), errors
    assert any(line.startswith("Period 2, days:") for line in errors), errors
    assert any(line.startswith("Period 2, start:") for line in errors), errors
    assert Tariff.objects.count() == 0


def test_a_price_is_judged_as_in_the_api(browser, api):
    response = browser.post(ADD, form(price_per_kwh="-0.01", session_fee="0.00001"))
    errors = form_errors(response)
    api_fields = api_errors(api, {"currency": "EUR", "price_per_kwh": "-0.01", "session_fee": "0.00001"})
    assert errors["price_per_kwh"] == api_fields["price_per_kwh"] == ["Must not be negative."]
    assert errors["session_fee"] == api_fields["session_fee"]


def test_a_bad_stored_tariff_is_shown_with_its_problems_and_fixing_it_prices_its_sessions(browser):
    station = StationFactory(station_id="CP-LEGACY", time_zone="UTC")
    tariff = Tariff.objects.create(name="Legacy", currency="XYZ", price_per_kwh="0.30", periods=[{"foo": 1}])
    tx = Transaction.objects.create(
        station=station,
        connector_id=1,
        id_tag="T",
        meter_start=0,
        meter_stop=5000,
        started_at=T0,
        stopped_at=T0,
    )
    Transaction.objects.filter(pk=tx.pk).update(stopped_at=datetime(2024, 6, 12, 11, 0, tzinfo=UTC))
    session = Session.objects.create(
        station=station,
        connector_id=1,
        id_tag="T",
        tariff=tariff,
        transaction=tx,
        status=SessionStatus.COMPLETED,
        energy_kwh=Decimal("5"),
        pricing_error="Tariff cannot be priced: unknown currency 'XYZ'",
    )
    listing = browser.get("/admin/billing/tariff/")
    assert listing.status_code == 200
    page = browser.get(change_url(tariff))
    assert page.status_code == 200
    text = page.content.decode()
    assert "currency: &#x27;XYZ&#x27; is not an ISO 4217 currency code" in text
    assert "Stored periods that cannot be read" in text and "foo" in text
    sessions_page = browser.get("/admin/billing/session/?pricing=error")
    assert sessions_page.status_code == 200 and "unknown currency" in sessions_page.content.decode()

    response = browser.post(change_url(tariff), form(name="Legacy", currency="EUR", price_per_kwh="0.30"))
    assert response.status_code == 302, form_errors(response)
    session.refresh_from_db()
    # 5 kWh * 0.30 = 1.50
    assert (session.cost, session.currency, session.pricing_error) == (Decimal("1.50"), "EUR", "")
    assert session.tariff_snapshot["currency"] == "EUR"
