"""`POST /auth/token` and `GET /auth/me`, by token and by browser session."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from evpower.models import Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_token_for_valid_credentials_authenticates_later_requests():
    UserFactory(username="alice", role=Role.OPERATOR)
    client = APIClient()

    response = client.post("/auth/token", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    me = client.get("/auth/me")
    assert me.status_code == 200
    assert me.json() == {"username": "alice", "role": "operator"}


def test_token_is_stable_across_logins():
    UserFactory(username="alice")
    client = APIClient()
    body = {"username": "alice", "password": PASSWORD}

    first = client.post("/auth/token", body, format="json").json()["token"]
    second = client.post("/auth/token", body, format="json").json()["token"]

    assert first == second


@pytest.mark.parametrize(
    "username,password",
    [("alice", "wrong-password"), ("nobody", PASSWORD), ("ALICE", PASSWORD)],
    ids=["wrong-password", "unknown-user", "username-case-differs"],
)
def test_wrong_credentials_answer_400_json(username, password):
    UserFactory(username="alice")

    response = APIClient().post("/auth/token", {"username": username, "password": password}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_credentials",
        "detail": "Unable to log in with these credentials.",
    }
    assert not Token.objects.exists()


def test_inactive_user_gets_no_token():
    UserFactory(username="alice", is_active=False)

    response = APIClient().post("/auth/token", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_credentials"


def test_missing_credentials_answer_field_messages():
    response = APIClient().post("/auth/token", {}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["fields"] == {
        "username": ["This field is required."],
        "password": ["This field is required."],
    }


def test_token_endpoint_accepts_form_encoded_credentials():
    UserFactory(username="alice")

    response = APIClient().post("/auth/token", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 200


def test_token_endpoint_rejects_get_with_json_405():
    response = APIClient().get("/auth/token")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_me_names_the_user_and_role(api, role):
    response = api[role].get("/auth/me")

    assert response.status_code == 200
    assert response.json() == {"username": f"the-{role}", "role": role}


def test_me_without_token_is_401_with_challenge():
    response = APIClient().get("/auth/me")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("header", ["Token not-a-real-token", "Token", "Token a b", "Bearer x"])
def test_me_with_bad_token_is_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/auth/me")

    assert response.status_code == 401
    assert set(response.json()) == {"error", "detail"}


def test_token_of_deactivated_user_stops_working(make_api):
    user = UserFactory()
    client = make_api(user)
    user.is_active = False
    user.save()

    assert client.get("/auth/me").status_code == 401


def test_session_login_authenticates_the_browser():
    UserFactory(username="alice", role=Role.ADMIN)
    client = APIClient()
    assert client.login(username="alice", password=PASSWORD)

    response = client.get("/auth/me")

    assert response.status_code == 200
    assert response.json() == {"username": "alice", "role": "admin"}


def test_session_writes_need_the_csrf_token():
    UserFactory(username="alice", role=Role.ADMIN)
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="alice", password=PASSWORD)
    new_user = {"username": "bob", "password": "Another-g00d-pass"}

    refused = client.post("/ocpp/users", new_user, format="json")
    # Any Django admin page hands out the CSRF cookie the browser then echoes.
    client.get("/admin/")
    accepted = client.post(
        "/ocpp/users", new_user, format="json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value
    )

    assert refused.status_code == 403
    assert refused.json()["error"] == "permission_denied"
    assert "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 201
