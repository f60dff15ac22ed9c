"""Token authentication remembered for a few seconds (`evpower.api.authentication`)."""

import pytest
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient

from evpower.api import authentication
from evpower.api.authentication import CachedTokenAuthentication, token_cache
from evpower.models import Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    token_cache.clear()
    yield
    token_cache.clear()


@pytest.fixture
def token():
    return Token.objects.create(user=UserFactory(role=Role.OPERATOR))


def _request(key: str):
    return RequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {key}")


def test_a_token_seen_recently_is_answered_without_the_database(token, django_assert_num_queries):
    auth = CachedTokenAuthentication()
    assert not auth.answers_from_memory(_request(token.key))
    with django_assert_num_queries(1):
        user, _ = auth.authenticate(_request(token.key))
    with django_assert_num_queries(0):
        again, _ = auth.authenticate(_request(token.key))
    assert again == user == token.user
    assert auth.answers_from_memory(_request(token.key))


def test_it_is_looked_up_again_after_the_cache_time(token, monkeypatch, django_assert_num_queries):
    auth = CachedTokenAuthentication()
    auth.authenticate(_request(token.key))
    monkeypatch.setattr(authentication, "TOKEN_CACHE_SECONDS", 0.0)
    token_cache.put(token.key, token.user, token)  # stored already expired
    with django_assert_num_queries(1):
        auth.authenticate(_request(token.key))


@pytest.mark.parametrize("change", ["deactivate", "delete_token", "demote"])
def test_a_change_to_the_user_or_token_is_seen_at_once(token, change):
    auth = CachedTokenAuthentication()
    auth.authenticate(_request(token.key))
    user = token.user
    if change == "deactivate":
        user.is_active = False
        user.save()
    elif change == "delete_token":
        token.delete()
    else:
        user.role = Role.CLIENT
        user.save()

    if change == "demote":
        assert auth.authenticate(_request(token.key))[0].role == Role.CLIENT
    else:
        with pytest.raises(AuthenticationFailed):
            auth.authenticate(_request(token.key))


def test_unknown_tokens_are_not_remembered(django_assert_num_queries):
    auth = CachedTokenAuthentication()
    for _ in range(2):
        with django_assert_num_queries(1), pytest.raises(AuthenticationFailed):
            auth.authenticate(_request("f" * 40))


def test_a_demoted_operator_can_no_longer_send_commands(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    body = {"station_id": "NOPE", "command": "Reset", "payload": {"type": "Soft"}}
    assert client.post("/ocpp/send_command", body, format="json").status_code == 404
    token.user.role = Role.CLIENT
    token.user.save()

    assert client.post("/ocpp/send_command", body, format="json").status_code == 403


def test_a_browser_session_sends_commands_with_its_csrf_token():
    UserFactory(username="olga", role=Role.OPERATOR)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="olga"))
    body = {"station_id": "NOPE", "command": "Reset", "payload": {"type": "Soft"}}

    refused = client.post("/ocpp/send_command", body, format="json")
    client.cookies["csrftoken"] = secret = "a" * 32  # what the browser holds
    answered = client.post("/ocpp/send_command", body, format="json", HTTP_X_CSRFTOKEN=secret)

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert answered.status_code == 404
