"""English or Russian: a signed-in user's own choice, else the browser's
(Django's LocaleMiddleware: the language cookie, then Accept-Language)."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

# Pages for people; every other path is the API, which answers in English
# whatever the client's Accept-Language (integrators match on its texts).
PAGES_FOR_PEOPLE = ("/admin/", "/dashboard", "/language")


def for_people(path: str) -> bool:
    return path == "/" or path.startswith(PAGES_FOR_PEOPLE)


class UserLanguageMiddleware:
    """After LocaleMiddleware and authentication: the API in English; on the
    back office a user's saved language wins. Sync and async (an API request
    under ASGI must not pass through Django's sync thread for this)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if iscoroutinefunction(self):
            return self._acall(request)
        if for_people(request.path):
            _activate(request, _saved_language(request))
        else:
            _activate(request, settings.LANGUAGE_CODE)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if for_people(request.path):
            # On the sync thread, where the page's own view reads the same (cached) user.
            _activate(request, await sync_to_async(_saved_language)(request))
        else:
            _activate(request, settings.LANGUAGE_CODE)
        return await self.get_response(request)


def _saved_language(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    return getattr(user, "language", "") if user is not None and user.is_authenticated else ""


def _activate(request: HttpRequest, language: str) -> None:
    if language:
        translation.activate(language)
        request.LANGUAGE_CODE = language


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """Switch the language: kept on the user when signed in, in a cookie for the browser."""
    language = request.POST.get("language", "")
    next_url = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    if language not in dict(settings.LANGUAGES):
        return response
    if request.user.is_authenticated:
        request.user.language = language
        request.user.save(update_fields=["language"])
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response
