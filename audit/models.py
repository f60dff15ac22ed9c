"""The audit trail: every change to a tariff, a station, an id tag or a
charging profile, with who made it and when (django-simple-history).

The history tables live in this app, so the apps that own the models keep
their migrations to themselves; each model gets a `history` manager."""

from simple_history import register

from billing.models import Tariff
from stations.models import ChargingProfile, IdTag, Station

# Not history: last_seen moves with every heartbeat, and a password hash is
# no one's business.
register(Station, app="audit", excluded_fields=["password_hash", "last_seen"])
register(IdTag, app="audit")
register(Tariff, app="audit")
register(ChargingProfile, app="audit")
