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


@pytest.fixture(autouse=True, scope="session")
def _flush_retries_deadlocks():
    """Live test servers keep writing for a moment after a test (presence, last
    seen, the writer's last commit) while pytest-django flushes the database:
    PostgreSQL's TRUNCATE can then deadlock with them and cancels one side. If
    it cancels the flush, run it again."""
    import time

    from django.db import OperationalError
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        for attempt in range(5):
            try:
                return original(self, sql_list)
            except OperationalError as exc:
                if "deadlock" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        return None

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original
