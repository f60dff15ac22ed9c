"""Commands to stations: sent over the channel layer to whichever process
holds the station's socket, answered with the station's reply."""

import asyncio
import logging
from dataclasses import dataclass

from channels.layers import get_channel_layer

from ocpp_gateway.conf import gateway_settings

logger = logging.getLogger(__name__)

# How long a live consumer may take to acknowledge a command. No ack means no
# process holds the station's socket (presence was stale).
ACK_TIMEOUT = 5.0


@dataclass
class CommandFailed(Exception):
    """`reason`: not_connected | timeout | call_error | disconnected."""

    reason: str
    error_code: str = ""
    error_description: str = ""
    error_details: dict | None = None


async def command_send(*, group_name: str, action: str, payload: dict, timeout: float | None = None) -> dict:
    """Send `action` to the station and return its CALLRESULT payload.

    `timeout` counts from when the call is actually sent, not time queued
    behind other calls. Raises CommandFailed."""
    timeout = timeout or gateway_settings.CALL_TIMEOUT
    layer = get_channel_layer()
    reply_to = await layer.new_channel()
    await layer.group_send(
        group_name,
        {
            "type": "ocpp.command",
            "action": action,
            "payload": payload,
            "reply_to": reply_to,
            "timeout": timeout,
        },
    )
    try:
        ack = await asyncio.wait_for(layer.receive(reply_to), ACK_TIMEOUT)
    except TimeoutError:
        raise CommandFailed("not_connected") from None
    result = ack
    if ack["type"] == "ocpp.command.queued":
        # Each call ahead of ours may take up to its own timeout.
        bound = (timeout + 1) * max(1, ack.get("position", 1)) + ACK_TIMEOUT
        try:
            result = await asyncio.wait_for(layer.receive(reply_to), bound)
        except TimeoutError:
            raise CommandFailed("timeout") from None
    if result.get("status") == "ok":
        return result["response"]
    raise CommandFailed(
        result.get("status", "disconnected"),
        result.get("error_code", ""),
        result.get("error_description", ""),
        result.get("error_details") or {},
    )


def after_commit_dispatch(item: tuple) -> None:
    kind = item[0]
    if kind == "limit_stop":
        _, group_name, transaction_id = item
        asyncio.get_running_loop().create_task(_limit_stop(group_name, transaction_id))


async def _limit_stop(group_name: str, transaction_id: int) -> None:
    try:
        await command_send(
            group_name=group_name, action="RemoteStopTransaction", payload={"transactionId": transaction_id}
        )
    except CommandFailed as exc:
        logger.warning("Limit stop of transaction %s failed: %s", transaction_id, exc.reason)
