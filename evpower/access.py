"""Who may do what, by role: the one table read by the API's permission
classes and by the back office's ModelAdmins (SPEC "Roles").

A capability names something a person does ("send a command to a station"),
mapped to the lowest role that may; `may(user, capability)` answers for a
user. The Django-admin model permissions each role holds are derived from
the same capabilities (`role_permissions`).
"""

import functools
from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CLIENT = "client", _("Client")
    OPERATOR = "operator", _("Operator")
    ADMIN = "admin", _("Admin")
    SUPERADMIN = "superadmin", _("Superadmin")


ROLE_RANK = {Role.CLIENT: 0, Role.OPERATOR: 1, Role.ADMIN: 2, Role.SUPERADMIN: 3}


class Can(StrEnum):
    BACK_OFFICE = "back_office"  # sign in to /admin/ and /dashboard
    OPERATE_STATIONS = "operate_stations"  # read stations, live state, message log
    COMMAND_STATIONS = "command_stations"  # reset, unlock, remote start/stop, configuration
    READ_ALL_SESSIONS = "read_all_sessions"  # sessions, transactions, meter values of everyone
    READ_ID_TAGS = "read_id_tags"  # every tag, not only one's own
    MANAGE_STATIONS = "manage_stations"  # register, password, registration state, delete
    MANAGE_TARIFFS = "manage_tariffs"
    MANAGE_ID_TAGS = "manage_id_tags"
    MANAGE_STATION_SETUP = "manage_station_setup"  # reservations, charging profiles, local lists
    CLOSE_TRANSACTIONS = "close_transactions"  # close a transaction the station abandoned
    MANAGE_USERS = "manage_users"  # clients and operators
    GRANT_PRIVILEGED_ROLES = "grant_privileged_roles"  # admins and superadmins
    EDIT_HISTORY = "edit_history"  # billed values, logs: nobody below a Django superuser


LOWEST_ROLE = {
    Can.BACK_OFFICE: Role.OPERATOR,
    Can.OPERATE_STATIONS: Role.OPERATOR,
    Can.COMMAND_STATIONS: Role.OPERATOR,
    Can.READ_ALL_SESSIONS: Role.OPERATOR,
    Can.READ_ID_TAGS: Role.OPERATOR,
    Can.MANAGE_STATIONS: Role.ADMIN,
    Can.MANAGE_TARIFFS: Role.ADMIN,
    Can.MANAGE_ID_TAGS: Role.ADMIN,
    Can.MANAGE_STATION_SETUP: Role.OPERATOR,
    Can.CLOSE_TRANSACTIONS: Role.ADMIN,
    Can.MANAGE_USERS: Role.ADMIN,
    Can.GRANT_PRIVILEGED_ROLES: Role.SUPERADMIN,
    Can.EDIT_HISTORY: Role.SUPERADMIN,
}


def has_role(user, role: str) -> bool:
    """True when `user` is signed in, active, and of `role` or above."""
    return bool(
        user
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and ROLE_RANK[Role(user.role)] >= ROLE_RANK[Role(role)]
    )


def may(user, capability: Can) -> bool:
    return has_role(user, LOWEST_ROLE[capability])


# Django-admin model permissions: model -> action -> the capability it takes.
# Billing records and logs are history: no one below superadmin changes them.
_HISTORY = {"view": Can.OPERATE_STATIONS}
_ADMIN_GRANTS = {
    "stations.station": {
        "view": Can.OPERATE_STATIONS,
        "add": Can.MANAGE_STATIONS,
        "change": Can.MANAGE_STATIONS,
        "delete": Can.MANAGE_STATIONS,
    },
    "stations.connector": _HISTORY,
    "stations.statusrecord": _HISTORY,
    "stations.stationevent": _HISTORY,
    "stations.protocolviolation": _HISTORY,
    "stations.datatransferrecord": _HISTORY,
    "stations.messagelog": _HISTORY,
    "stations.idtag": {
        "view": Can.READ_ID_TAGS,
        "add": Can.MANAGE_ID_TAGS,
        "change": Can.MANAGE_ID_TAGS,
        "delete": Can.MANAGE_ID_TAGS,
    },
    "stations.reservation": {"view": Can.OPERATE_STATIONS},
    "stations.chargingprofile": {
        "view": Can.OPERATE_STATIONS,
        "add": Can.MANAGE_STATION_SETUP,
        "change": Can.MANAGE_STATION_SETUP,
        "delete": Can.MANAGE_STATION_SETUP,
    },
    "stations.installedchargingprofile": _HISTORY,
    "stations.localauthlist": {"view": Can.OPERATE_STATIONS},
    "billing.tariff": {
        "view": Can.OPERATE_STATIONS,
        "add": Can.MANAGE_TARIFFS,
        "change": Can.MANAGE_TARIFFS,
        "delete": Can.MANAGE_TARIFFS,
    },
    "billing.session": {"view": Can.READ_ALL_SESSIONS},
    "billing.transaction": {"view": Can.READ_ALL_SESSIONS},
    "billing.metervalue": {"view": Can.READ_ALL_SESSIONS},
    "billing.unmatchedstop": {"view": Can.READ_ALL_SESSIONS},
    "evpower.user": {
        "view": Can.MANAGE_USERS,
        "add": Can.MANAGE_USERS,
        "change": Can.MANAGE_USERS,
        "delete": Can.MANAGE_USERS,
    },
}


@functools.cache
def role_permissions(role: str) -> frozenset[str]:
    """The Django permission names ("stations.view_station") that `role` holds by itself."""
    rank = ROLE_RANK[Role(role)]
    perms = set()
    for label, actions in _ADMIN_GRANTS.items():
        app_label, model = label.split(".")
        for action, capability in actions.items():
            if rank >= ROLE_RANK[LOWEST_ROLE[capability]]:
                perms.add(f"{app_label}.{action}_{model}")
    return frozenset(perms)
