"""The back office's frame: the landing page, the sidebar by role, the
language switch. Names only URLs of the other apps (no imports of them)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from evpower.access import Can, may

# (title, icon, [(title, icon, url name, permission needed)])
_NAVIGATION = [
    (
        _("Network"),
        [
            (_("Live dashboard"), "monitoring", "dashboard", None),
            (_("Stations"), "ev_station", "admin:stations_station_changelist", "stations.view_station"),
            (_("Connectors"), "power", "admin:stations_connector_changelist", "stations.view_connector"),
        ],
    ),
    (
        _("Charging"),
        [
            (_("Sessions"), "bolt", "admin:billing_session_changelist", "billing.view_session"),
            (
                _("Transactions"),
                "receipt_long",
                "admin:billing_transaction_changelist",
                "billing.view_transaction",
            ),
            (_("Meter values"), "speed", "admin:billing_metervalue_changelist", "billing.view_metervalue"),
            (
                _("Unmatched stops"),
                "help",
                "admin:billing_unmatchedstop_changelist",
                "billing.view_unmatchedstop",
            ),
            (_("Tariffs"), "payments", "admin:billing_tariff_changelist", "billing.view_tariff"),
        ],
    ),
    (
        _("Station setup"),
        [
            (
                _("Reservations"),
                "event_available",
                "admin:stations_reservation_changelist",
                "stations.view_reservation",
            ),
            (
                _("Charging profiles"),
                "tune",
                "admin:stations_chargingprofile_changelist",
                "stations.view_chargingprofile",
            ),
            (
                _("Installed profiles"),
                "settings_input_component",
                "admin:stations_installedchargingprofile_changelist",
                "stations.view_installedchargingprofile",
            ),
            (
                _("Local lists"),
                "list_alt",
                "admin:stations_localauthlist_changelist",
                "stations.view_localauthlist",
            ),
        ],
    ),
    (
        _("Logs"),
        [
            (
                _("Message log"),
                "swap_horiz",
                "admin:stations_messagelog_changelist",
                "stations.view_messagelog",
            ),
            (
                _("Status history"),
                "history",
                "admin:stations_statusrecord_changelist",
                "stations.view_statusrecord",
            ),
            (
                _("Station events"),
                "event_note",
                "admin:stations_stationevent_changelist",
                "stations.view_stationevent",
            ),
            (
                _("Data transfers"),
                "data_object",
                "admin:stations_datatransferrecord_changelist",
                "stations.view_datatransferrecord",
            ),
        ],
    ),
    (
        _("Accounts"),
        [
            (_("Users"), "group", "admin:evpower_user_changelist", "evpower.view_user"),
            (_("Id tags"), "badge", "admin:stations_idtag_changelist", "stations.view_idtag"),
        ],
    ),
]


def _allowed(perm: str | None):
    def check(request: HttpRequest) -> bool:
        if perm is None:
            return may(request.user, Can.BACK_OFFICE)
        return request.user.has_perm(perm)

    return check


def sidebar_navigation(request: HttpRequest) -> list[dict]:
    """The sidebar's groups, each link shown only to those who may open it."""
    groups = []
    for title, items in _NAVIGATION:
        links = [
            {"title": label, "icon": icon, "link": reverse_lazy(name), "permission": _allowed(perm)}
            for label, icon, name, perm in items
        ]
        if any(link["permission"](request) for link in links):
            groups.append({"title": title, "separator": True, "items": links})
    return groups


def language_action(request: HttpRequest) -> str:
    return reverse("language-set")


def admin_css(request: HttpRequest) -> str:
    return static("evpower/admin.css")


def favicon_url(request: HttpRequest) -> str:
    return static("evpower/favicon.svg")


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """`/`: staff to the back office, integrators to the API documentation."""
    return render(request, "landing.html", {"staff": may(request.user, Can.BACK_OFFICE)})
