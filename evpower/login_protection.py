"""Login protection (django-axes): the backend that counts failed logins and the 429 answer."""

from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

LOCKED_CODE = "too_many_attempts"


class LoginProtectionBackend(AxesStandaloneBackend):
    """Axes' check, for logins that come with a request (the API, the admin).

    Axes refuses `authenticate()` without a request; that is a login from code
    (a shell, a test client), not from the network, so it is let through."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_detail(cool_off: timedelta | None) -> str:
    """The sentence shown to someone locked out."""
    if not cool_off:
        return "Too many failed login attempts. Ask an administrator to unlock the account."
    minutes = max(1, round(cool_off.total_seconds() / 60))
    return f"Too many failed login attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


def lockout_response(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """`AXES_LOCKOUT_CALLABLE`: a page for the admin, the API's JSON error elsewhere.

    Axes passes its other arguments differently on its sync and async paths; none is needed."""
    cool_off = get_cool_off(request)
    detail = lockout_detail(cool_off)
    if request.path.startswith(reverse("admin:index")):
        response = render(request, "login_locked.html", {"detail": detail}, status=429)
    else:
        response = JsonResponse({"error": LOCKED_CODE, "detail": detail}, status=429)
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
