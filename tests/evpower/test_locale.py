"""English and Russian: from the browser, or the user's own choice."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_browser_language_is_used(users):
    client = Client(headers={"accept-language": "ru"})
    client.force_login(users["operator"])

    assert "Станции" in client.get("/admin/stations/station/").content.decode()
    assert "Бэк-офис" in client.get("/").content.decode()


def test_a_user_choice_wins_over_the_browser_and_is_kept(users):
    client = Client(headers={"accept-language": "en"})
    client.force_login(users["operator"])

    response = client.post("/language", {"language": "ru", "next": "/admin/"})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    users["operator"].refresh_from_db()
    assert users["operator"].language == "ru"
    fresh = Client(headers={"accept-language": "en"})  # another browser, same user
    fresh.force_login(users["operator"])
    assert "Панель мониторинга" in fresh.get("/admin/").content.decode()


def test_language_switch_refuses_a_foreign_next(users):
    response = Client().post("/language", {"language": "ru", "next": "https://evil.example/"})

    assert response["Location"] == "/"
    assert response.cookies["django_language"].value == "ru"


def test_the_api_answers_in_english_whatever_the_client_language(users):
    users["operator"].language = "ru"
    users["operator"].save(update_fields=["language"])
    client = Client(headers={"accept-language": "ru"})
    client.force_login(users["operator"])

    response = client.get("/ocpp/sessions/999")

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not found."}
