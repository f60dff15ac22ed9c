"""Under ASGI Django's middleware is replaced by twins that run on the event
loop (`evpower.middleware`); settings keep Django's names for its checks."""

from django.conf import settings
from django.core import signals
from django.dispatch import dispatcher
from django.utils.module_loading import import_string

from evpower import middleware
from evpower.asgi import django_asgi_app


def test_every_middleware_under_asgi_is_async_and_does_what_djangos_does():
    for configured, loaded in zip(settings.MIDDLEWARE, middleware.for_asgi(settings.MIDDLEWARE), strict=True):
        original, twin = import_string(configured), import_string(loaded)
        assert twin is original or issubclass(twin, original), configured
        # A sync-only one would put the rest of the chain, and every view, on a thread.
        assert getattr(twin, "async_capable", False), configured


def test_settings_name_djangos_own_classes_for_its_deploy_checks():
    assert "django.middleware.security.SecurityMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in settings.MIDDLEWARE


def test_the_asgi_handler_loads_the_twins():
    view_middleware = [method.__self__ for method in django_asgi_app._view_middleware]
    assert [type(m) for m in view_middleware] == [middleware.CsrfViewMiddleware]


async def test_request_started_under_asgi_needs_no_thread_for_djangos_own_receivers(monkeypatch):
    def no_thread(*args, **kwargs):
        raise AssertionError("a trip to a thread")

    monkeypatch.setattr(dispatcher, "sync_to_async", no_thread)

    assert await signals.request_started.asend(sender=type(django_asgi_app), scope={}) == []


async def test_request_started_under_asgi_still_runs_any_other_receiver():
    heard = []

    def receiver(sender, **kwargs):
        heard.append(sender)

    signals.request_started.connect(receiver)
    try:
        await signals.request_started.asend(sender=type(django_asgi_app), scope={})
    finally:
        signals.request_started.disconnect(receiver)
    assert heard == [type(django_asgi_app)]
