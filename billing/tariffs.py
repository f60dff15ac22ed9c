"""Tariffs: which one applies, its price snapshot, and their create/update/delete."""

from datetime import datetime

from django.db import transaction as db_transaction
from django.db.models import ProtectedError, Q

from billing.models import Session, Tariff
from billing.pricing import TariffSnapshot


def tariff_applicable(*, station_pk: int, at: datetime) -> Tariff | None:
    """A station-specific tariff beats the network default; the newest wins."""
    valid = Tariff.objects.filter(
        Q(is_active=True),
        Q(valid_from__isnull=True) | Q(valid_from__lte=at),
        Q(valid_to__isnull=True) | Q(valid_to__gt=at),
    )
    return (
        valid.filter(stations=station_pk).order_by("-created_at", "-id").first()
        or valid.filter(stations=None).order_by("-created_at", "-id").first()
    )


def tariff_snapshot(tariff: Tariff) -> dict:
    return TariffSnapshot.from_dict(
        {
            "currency": tariff.currency,
            "price_per_kwh": tariff.price_per_kwh,
            "price_per_minute": tariff.price_per_minute,
            "session_fee": tariff.session_fee,
            "idle_fee_per_minute": tariff.idle_fee_per_minute,
            "idle_grace_minutes": tariff.idle_grace_minutes,
            "periods": tariff.periods or [],
        }
    ).to_dict() | {"tariff_id": tariff.pk, "name": tariff.name}


@db_transaction.atomic
def tariff_create(*, data: dict) -> Tariff:
    """`data`: validated tariff fields; `stations` a list of Station objects."""
    data = dict(data)
    stations = data.pop("stations", [])
    tariff = Tariff.objects.create(**data)
    tariff.stations.set(stations)
    return tariff


@db_transaction.atomic
def tariff_update(*, tariff: Tariff, data: dict) -> Tariff:
    """Change a tariff; sessions already created keep the prices of their snapshot."""
    data = dict(data)
    stations = data.pop("stations", None)
    for field, value in data.items():
        setattr(tariff, field, value)
    tariff.save()
    if stations is not None:
        tariff.stations.set(stations)
    return tariff


def tariff_delete(*, tariff: Tariff) -> bool:
    """Delete a tariff no session used; archive one that was used. True if archived."""
    if not Session.objects.filter(tariff=tariff).exists():
        try:
            with db_transaction.atomic():
                tariff.delete()
            return False
        except ProtectedError:
            pass  # a session picked it up meanwhile
    Tariff.objects.filter(pk=tariff.pk).update(is_active=False)
    tariff.is_active = False
    return True


def snapshot_prices(snapshot: dict) -> TariffSnapshot:
    return TariffSnapshot.from_dict({k: v for k, v in snapshot.items() if k not in ("tariff_id", "name")})
