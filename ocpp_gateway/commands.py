"""The one door to a station: commands sent over the channel layer to whichever
process holds the station's socket, answered with the station's reply.

Everything that talks to a station goes through here (the API, sessions,
reservations, local lists, charging profiles, the limit stop), and every
failure is one `CommandFailed`. This module imports nothing of `billing` or
`stations`: a station is anything with `pk` and `station_id`.
"""

import asyncio
import logging
from typing import Protocol

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from evpower.errors import DomainError, Kind
from ocpp_gateway import metrics, presence
from ocpp_gateway.conf import gateway_settings

logger = logging.getLogger(__name__)

# How long a live consumer may take to acknowledge a command. No ack means no
# process holds the station's socket (presence was stale).
ACK_TIMEOUT = 5.0

NOT_CONNECTED = "not_connected"  # no CALL was sent
TIMEOUT = "timeout"  # sent; the station stayed silent
DISCONNECTED = "disconnected"  # sent; the station went away before replying
STATION_ERROR = "station_error"  # the station answered CALLERROR


class StationAddress(Protocol):
    pk: int
    station_id: str


class CommandFailed(DomainError):
    """The station's CALLRESULT did not come; `reason` says why (see above)."""

    _KINDS = {
        NOT_CONNECTED: Kind.CONFLICT,
        TIMEOUT: Kind.STATION_TIMEOUT,
        DISCONNECTED: Kind.STATION_TIMEOUT,
        STATION_ERROR: Kind.STATION_ERROR,
    }
    _DETAILS = {
        NOT_CONNECTED: "The station is not connected.",
        TIMEOUT: "The station did not answer in time.",
        DISCONNECTED: "The station received the command and disconnected before answering.",
    }

    def __init__(self, reason: str, error_code: str = "", error_description: str = "", error_details=None):
        self.reason = reason
        self.kind = self._KINDS[reason]
        self.error_code = error_code
        self.error_description = error_description
        self.error_details = error_details or {}
        if reason == STATION_ERROR:
            extra = {"error_code": error_code, "error_description": error_description}
            super().__init__(reason, f"{error_code}: {error_description}", extra)
        else:
            super().__init__(reason, self._DETAILS[reason])


def station_group(station_pk: int) -> str:
    """The channel-layer group of a station's connection. From the primary
    key: group names allow only [A-Za-z0-9._-], station ids allow more."""
    return f"ocpp.station.{station_pk}"


async def command_send(*, station: StationAddress, action: str, payload: dict, timeout: float | None = None):
    """Send `action` to the station and return its CALLRESULT payload.

    `timeout` counts from when the call is actually sent, not time queued
    behind other calls. Raises CommandFailed."""
    return await _group_command(station_group(station.pk), action, payload, timeout)


async def _group_command(group: str, action: str, payload: dict, timeout: float | None):
    timeout = timeout or gateway_settings.CALL_TIMEOUT
    layer = get_channel_layer()
    reply_to = await layer.new_channel()
    try:
        await layer.group_send(
            group,
            {
                "type": "ocpp.command",
                "action": action,
                "payload": payload,
                "reply_to": reply_to,
                "timeout": timeout,
            },
        )
    except Exception:
        metrics.channel_layer_errors.labels("command").inc()
        raise
    try:
        ack = await asyncio.wait_for(layer.receive(reply_to), ACK_TIMEOUT)
    except TimeoutError:
        raise CommandFailed(NOT_CONNECTED) from None
    except Exception:
        metrics.channel_layer_errors.labels("command").inc()
        raise
    result = ack
    if ack["type"] == "ocpp.command.queued":
        # Each call ahead of ours may take up to its own timeout.
        bound = (timeout + 1) * max(1, ack.get("position", 1)) + ACK_TIMEOUT
        try:
            result = await asyncio.wait_for(layer.receive(reply_to), bound)
        except TimeoutError:
            raise CommandFailed(TIMEOUT) from None
    if result.get("status") == "ok":
        return result["response"]
    raise CommandFailed(
        result.get("status", DISCONNECTED),
        result.get("error_code", ""),
        result.get("error_description", ""),
        result.get("error_details") or {},
    )


def station_command(*, station: StationAddress, action: str, payload: dict, timeout: float | None = None):
    """`command_send` for sync callers (services, views). Raises CommandFailed."""
    if presence.connection_get(station.station_id) is None:
        raise CommandFailed(NOT_CONNECTED)
    return async_to_sync(command_send)(station=station, action=action, payload=payload, timeout=timeout)


async def limit_stop(*, station_pk: int, transaction_id: int) -> None:
    """RemoteStopTransaction for a session that reached its limit (sent once, by billing)."""
    try:
        await _group_command(
            station_group(station_pk), "RemoteStopTransaction", {"transactionId": transaction_id}, None
        )
    except CommandFailed as exc:
        logger.warning("Limit stop of transaction %s failed: %s", transaction_id, exc.reason)


def station_disconnect(*, station: StationAddress) -> None:
    """Close every connection of the station, in whichever process (it was deleted)."""
    # The consumer's "replaced" event closes every connection of the group
    # whose channel differs from the one named: with none named, all of them.
    try:
        async_to_sync(get_channel_layer().group_send)(
            station_group(station.pk), {"type": "ocpp.replaced", "channel": ""}
        )
    except Exception:
        logger.warning("Could not disconnect %s", station.station_id, exc_info=True)
