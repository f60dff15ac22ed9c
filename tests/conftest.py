import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from evpower.models import Role
from tests.factories import UserFactory

pytest_plugins = ["tests.live"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Production hashing is slow by design; tests hash many passwords."""
    from tests.live import FAST_HASHERS

    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def make_api():
    """An APIClient authenticated by token as `user` (or anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def users(db):
    """One user per role, for access checks."""
    return {role.value: UserFactory(role=role, username=f"the-{role.value}") for role in Role}


@pytest.fixture
def api(make_api, users):
    """Clients by role name, plus "anon"."""
    clients = {role: make_api(user) for role, user in users.items()}
    clients["anon"] = make_api()
    return clients


@pytest.fixture(autouse=True)
def _close_async_orm_connections():
    """The async ORM in tests runs on asgiref's shared sync thread; close its
    connection so the test database can be dropped at the end."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()
