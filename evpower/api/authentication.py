"""Token authentication that remembers a token's user for a few seconds.

An integrator sends the same token with every request; looking it up each
time is a database round trip per request (and, for a view answered on the
event loop, a hop to a thread). A token deleted, or a user deactivated or
given another role, is seen at once in this process (the cache is emptied
when a user or a token is saved or deleted) and within `TOKEN_CACHE_SECONDS`
in the others.
"""

import threading
import time

from django.db.models.signals import post_delete, post_save
from drf_spectacular.drainage import set_override
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token

from evpower.models import User

TOKEN_CACHE_SECONDS = 5.0
# Bounded: a client trying random keys only ever misses (misses are not kept).
TOKEN_CACHE_SIZE = 1000


class _TokenCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, object, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: str):
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    def put(self, key: str, user, token) -> None:
        with self._lock:
            if len(self._entries) >= TOKEN_CACHE_SIZE:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + TOKEN_CACHE_SECONDS, user, token)

    def clear(self, **kwargs) -> None:
        with self._lock:
            self._entries.clear()


token_cache = _TokenCache()
for _model in (User, Token):
    for _signal in (post_save, post_delete):
        _signal.connect(token_cache.clear, sender=_model, dispatch_uid=f"token-cache-{_model.__name__}")


_PINNED = "_evpower_cached_auth"


def _token_key(request) -> str | None:
    parts = get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        return parts[1].decode()
    except UnicodeError:
        return None


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, answered from memory when the key
    was seen in the last few seconds. Errors are DRF's, unchanged."""

    def authenticate(self, request):
        # The hit `answers_from_memory` promised: the entry may expire, or a
        # save in another thread empty the cache, before DRF authenticates,
        # and the database lookup must not then run on the event loop.
        pinned = getattr(request, _PINNED, None)
        if pinned is not None:
            return pinned
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        hit = token_cache.get(key)
        if hit is not None:
            return hit
        user, token = super().authenticate_credentials(key)
        token_cache.put(key, user, token)
        return user, token

    @staticmethod
    def answers_from_memory(request) -> bool:
        """Whether authenticating `request` needs no database (its token is
        cached); if so, that answer is kept for `authenticate`."""
        key = _token_key(request)
        hit = token_cache.get(key) if key is not None else None
        if hit is None:
            return False
        setattr(request, _PINNED, hit)
        return True


# The same `tokenAuth` security scheme as DRF's class in the OpenAPI document.
set_override(CachedTokenAuthentication, "suppress_collision_warning", True)
