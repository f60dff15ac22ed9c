"""What PostgreSQL itself saw, for tests of how the writer talks to it."""

from django.db import connections


def last_query(pid: int) -> str:
    """The text of the last query (one simple-protocol message, all its
    statements) that backend `pid` received."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]
