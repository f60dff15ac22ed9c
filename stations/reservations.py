"""Reservations: ReserveNow / CancelReservation sent by the central system.

A reservation's pk is its OCPP reservationId, so ids are unique across the
network. The station enforces a reservation itself (OCPP 1.6 §5.13); the
central system keeps what the station accepted: the command-result hook
(`stations.commands_state`) applies every answered ReserveNow and
CancelReservation, whether sent from here or through `send_command`.
"""

from datetime import datetime

from django.db.models import QuerySet

from evpower.api.permissions import has_role
from evpower.errors import Conflict
from evpower.models import Role
from ocpp16.times import format_time, parse_time
from ocpp_gateway import commands
from stations.id_tags import id_tag_use_check
from stations.models import IdTag, Reservation, Station

ACTIVE = (Reservation.Status.REQUESTED, Reservation.Status.ACCEPTED)


# Selectors -------------------------------------------------------------------


def reservations_visible(*, user) -> QuerySet[Reservation]:
    """Reservations `user` may see: all for operator+, a client's own otherwise."""
    qs = Reservation.objects.select_related("station")
    if has_role(user, Role.OPERATOR):
        return qs
    return qs.filter(user=user)


# Services --------------------------------------------------------------------


def reservation_create(
    *,
    actor,
    station: Station,
    connector_id: int,
    id_tag: str,
    expiry_date: datetime,
    parent_id_tag: str = "",
) -> Reservation:
    """Store a reservation, send ReserveNow and keep the station's answer.

    Raises Forbidden (not the actor's tag or parent tag), or CommandFailed
    after marking the reservation rejected with the reason."""
    tag = IdTag.objects.filter(id_tag__iexact=id_tag).first()
    id_tag_use_check(actor=actor, tag=tag)
    if not has_role(actor, Role.OPERATOR) and parent_id_tag:
        # A parent tag is usable only as the one of the actor's own tag.
        id_tag_use_check(
            actor=actor, tag=tag if parent_id_tag.casefold() == tag.parent_id_tag.casefold() else None
        )
    # Committed before sending: the station's answer is applied by the
    # process holding its socket, which must find the row.
    reservation = Reservation.objects.create(
        station=station,
        connector_id=connector_id,
        id_tag=tag.id_tag if tag is not None else id_tag,
        parent_id_tag=parent_id_tag,
        expiry_date=expiry_date,
        user_id=tag.owner_id if tag is not None else None,
    )
    payload = {
        "connectorId": connector_id,
        "expiryDate": format_time(expiry_date),
        "idTag": reservation.id_tag,
        "reservationId": reservation.pk,
    }
    if parent_id_tag:
        payload["parentIdTag"] = parent_id_tag
    response = _send(station=station, action="ReserveNow", payload=payload, reservation=reservation)
    _settle(reservation=reservation, station_status=str(response.get("status", "")))
    reservation.refresh_from_db()
    return reservation


def reservation_cancel(*, reservation: Reservation) -> tuple[Reservation, dict]:
    """Send CancelReservation; the reservation is `cancelled` once the station accepts.

    Returns the reservation and the station's answer. Raises Conflict when
    the reservation is no longer active, or CommandFailed."""
    if reservation.status not in ACTIVE:
        raise Conflict(
            "not_active",
            f"The reservation is {reservation.status}; only an active one can be cancelled.",
        )
    response = _send(
        station=reservation.station,
        action="CancelReservation",
        payload={"reservationId": reservation.pk},
        reservation=None,
    )
    # The hook normally applied it already; this covers a hook that failed.
    if response.get("status") == "Accepted":
        reservation_cancel_apply(station_pk=reservation.station_id, reservation_id=reservation.pk)
    reservation.refresh_from_db()
    return reservation, response


def reservations_expire(*, now: datetime) -> int:
    """Mark active reservations past their expiry date `expired`; return how many."""
    return Reservation.objects.filter(status__in=ACTIVE, expiry_date__lte=now).update(
        status=Reservation.Status.EXPIRED
    )


def reservation_use(*, station_pk: int, reservation_id: int, transaction_id: int) -> None:
    """A StartTransaction carried this reservation: it is `used` by that transaction.

    The station decides whether a reservation applies, so this follows it
    whatever state we had (even expired: clocks differ). Unknown ids are ignored."""
    Reservation.objects.filter(station_id=station_pk, pk=reservation_id).exclude(
        status=Reservation.Status.USED
    ).update(status=Reservation.Status.USED, transaction_id=transaction_id)


# Applied from station answers (the command-result hook) ----------------------


def reservation_reserve_apply(*, station_pk: int, request: dict, response: dict) -> None:
    """An answered ReserveNow for a stored reservation of this station.

    Accepted replaces the reservation with the request's terms (OCPP: a known
    reservationId is replaced); a refusal settles only a reservation still
    waiting for its answer, since the station keeps an earlier accepted one."""
    reservation_id = request.get("reservationId")
    status = str(response.get("status", ""))
    qs = Reservation.objects.filter(station_id=station_pk, pk=reservation_id)
    if status == "Accepted":
        qs.update(
            status=Reservation.Status.ACCEPTED,
            station_status=status,
            connector_id=request["connectorId"],
            id_tag=request["idTag"],
            parent_id_tag=request.get("parentIdTag") or "",
            expiry_date=parse_time(request["expiryDate"]),
            transaction_id=None,
        )
    else:
        qs.filter(status=Reservation.Status.REQUESTED).update(
            status=Reservation.Status.REJECTED, station_status=status
        )


def reservation_cancel_apply(*, station_pk: int, reservation_id: int) -> None:
    """The station accepted CancelReservation: the reservation is `cancelled`."""
    Reservation.objects.filter(station_id=station_pk, pk=reservation_id).exclude(
        status__in=(Reservation.Status.USED, Reservation.Status.CANCELLED)
    ).update(status=Reservation.Status.CANCELLED)


# Helpers ---------------------------------------------------------------------


def _send(*, station: Station, action: str, payload: dict, reservation: Reservation | None) -> dict:
    try:
        response = commands.station_command(station=station, action=action, payload=payload)
    except commands.CommandFailed as exc:
        if reservation is not None:
            # No answer means no reservation we can count on: never leave it
            # `requested` forever.
            _settle(reservation=reservation, station_status=exc.code)
            exc.extra = {**exc.extra, "reservation_id": reservation.pk}
        raise
    return response if isinstance(response, dict) else {}


def _settle(*, reservation: Reservation, station_status: str) -> None:
    """Settle a reservation still `requested` (the hook normally did already)."""
    status = Reservation.Status.ACCEPTED if station_status == "Accepted" else Reservation.Status.REJECTED
    Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.REQUESTED).update(
        status=status, station_status=station_status
    )
