"""Under ASGI Django's middleware is replaced by twins that run on the event
loop (`evpower.middleware`); settings keep Django's names for its checks."""

from django.conf import settings
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
