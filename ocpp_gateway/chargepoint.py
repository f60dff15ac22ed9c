"""The central system's side of one station's OCPP-J 1.6 conversation.

Built on `ocpp.v16.ChargePoint` (its `@on` routing, message classes and the
1.6 schemas) with three things the package does not do right for a CSMS:
unparseable frames are answered with a CALLERROR, error codes are spelled as
OCPP-J 1.6 spells them, and calls to the station are sent exactly as given
(key order kept) with late replies logged instead of mixed up. A station
under the lenient tolerance policy also has a frame whose only schema faults
are known vendor quirks taken, normalised (`ocpp16.tolerance`).
Payloads reach the handlers as the station sent them (camelCase): no key
rewriting on the hot path.
"""

import asyncio
import logging
import re
import uuid

from ocpp.messages import Call, CallError, CallResult
from ocpp.routing import after, create_route_map, on
from ocpp.v16 import ChargePoint
from ocpp.v16.enums import Action

from billing import transactions
from evpower.clock import utcnow
from ocpp16 import schemas, tolerance
from ocpp16.errors import CallErrorCode, OCPPCallError
from ocpp16.frames import MESSAGE_TYPE_NAMES, parse_frame
from ocpp16.times import format_time, parse_meter_values, parse_time
from ocpp_gateway import live_feed, metrics
from ocpp_gateway.conf import gateway_settings
from ocpp_gateway.runtime import committer
from ocpp_gateway.writer import GroupCommitter, Values, gathering
from stations import id_tags, reports
from stations.models import MessageLog, StationEvent
from stations.protocol_violations import protocol_violations_note
from stations.registry import StationRef

logger = logging.getLogger(__name__)
_OCPP_LOGGER = logging.getLogger("ocpp")


class ConnectionClosed(Exception):
    """The station's socket closed."""


class CallNotSent(ConnectionClosed):
    """The socket closed before a call could be sent."""


# Text the database cannot store: NUL and unpaired UTF-16 surrogates, both
# legal JSON escapes. A station CALL holding them is refused (no OCPP string
# may), a command holding them goes out as given, a station's reply holding
# them is taken cleaned; either way the frame keeps its log row, cleaned.
# _UNSTORABLE is the cheap check on the wire text: it misses none, and also
# matches valid surrogate pairs and an escaped backslash before "u0000";
# _storable, on the text as read, is exact: it changes only such text
# (json.loads makes a valid pair one character).
_UNSTORABLE = re.compile(r"\x00|\\u0000|\\ud[89a-f][0-9a-f]{2}", re.IGNORECASE)


# How long the action of a call that got no reply in time is kept, so that a
# late reply is logged with it.
LATE_REPLY_SECONDS = 300

_LOG_COLUMNS = ("station_id", "direction", "message_type", "action", "unique_id", "payload", "created_at")
_LOG_ACTION_LENGTH = MessageLog._meta.get_field("action").max_length


def _storable(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _parsed(parse, value):
    """`parse(value)`, a station's unreadable time answered as its error (and
    found here, before the write: it must not fail the frames it would share
    a commit with)."""
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise OCPPCallError(CallErrorCode.TYPE_CONSTRAINT_VIOLATION, f"Not a date-time: {exc}") from exc


class CentralSystem(ChargePoint):
    """One connected station. `connection` needs `send()`; frames come in through `route_message`."""

    # Action -> {"_on_action": function, "_after_action": function}, built once
    # for the class (ChargePoint.__init__ builds one of bound methods per
    # connection, with the lock and queue of its own `call`, which we do not
    # use: call_raw): several KiB and a walk over dir(self) per connection.
    _routes: dict | None = None
    _commits: GroupCommitter | None = None

    def __init__(self, station: StationRef, connection, on_boot=None):
        self.id = station.station_id
        self._connection = connection
        self._response_timeout = gateway_settings.CALL_TIMEOUT
        self.logger = _OCPP_LOGGER  # the package's `_send` logs each frame sent with it
        if CentralSystem._routes is None:
            CentralSystem._routes = create_route_map(CentralSystem)
        self.station = station
        self._pending: dict[str, asyncio.Future] = {}
        self._pending_action: dict[str, str] = {}
        self._on_boot = on_boot
        self.boot: reports.BootAnswer | None = None
        self.status_notifications = 0

    # Framing ---------------------------------------------------------------

    async def route_message(self, raw_msg, received_at=None):
        """Handle one frame from the station; `received_at`, when it was read
        off the socket (the message log's time: a call may be handled a little
        after a reply read behind it), else now."""
        at = received_at or utcnow()
        try:
            msg = parse_frame(raw_msg)
        except OCPPCallError as error:
            unique_id = error.unique_id or "-1"
            self._log("in", 0, "", unique_id, {"raw": raw_msg[:4096]}, raw_msg, at)
            await self._send_error(unique_id, "", error)
            return

        if isinstance(msg, Call):
            unstorable = self._log("in", 2, msg.action, msg.unique_id, msg.payload, raw_msg, at)
            # (The frame's text gathered only when its wire text said so: not per frame.)
            if unstorable and _storable(sent := [msg.unique_id, msg.action, msg.payload]) != sent:
                # No OCPP 1.6 string may hold these, and the database cannot store them.
                error = OCPPCallError(
                    CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    "NUL characters and lone surrogates are not allowed.",
                )
                # The answer's log row names the action, which its text does not hold.
                await self._send_error(msg.unique_id, _storable(msg.action), error)
                return
            await self._handle_call(msg)
            return

        action = self._pending_action.get(msg.unique_id, "")
        if isinstance(msg, CallResult):
            if self._log("in", 3, action, msg.unique_id, msg.payload, raw_msg, at):
                msg.payload = _storable(msg.payload)  # as what the reply is applied to stores it
        else:
            self._log(
                "in",
                4,
                action,
                msg.unique_id,
                {
                    "errorCode": msg.error_code,
                    "errorDescription": msg.error_description,
                    "errorDetails": msg.error_details,
                },
                raw_msg,
                at,
            )
        future = self._pending.get(msg.unique_id)
        if future is None or future.done():
            logger.info("%s: reply %s matches no call in flight (late?), logged only", self.id, msg.unique_id)
            return
        future.set_result(msg)

    async def _handle_call(self, msg: Call) -> None:
        try:
            if msg.action not in schemas.STATION_ACTIONS:
                if msg.action in schemas.CENTRAL_ACTIONS or msg.action in Action._value2member_map_:
                    raise OCPPCallError(
                        CallErrorCode.NOT_SUPPORTED, f"{msg.action} is not sent by a charge point."
                    )
                raise OCPPCallError(CallErrorCode.NOT_IMPLEMENTED, f"Unknown action {msg.action!r}.")
            payload = self._acceptable(msg)
            handler = self._routes[msg.action]["_on_action"]
            response = await handler(self, payload)
            schemas.validate(msg.action, response, response=True)
        except OCPPCallError as error:
            await self._send_error(msg.unique_id, msg.action, error)
            return
        except ConnectionClosed:
            raise
        except Exception:
            logger.exception("%s: %s handler failed", self.id, msg.action)
            await self._send_error(
                msg.unique_id, msg.action, OCPPCallError(CallErrorCode.INTERNAL_ERROR, "Internal error.")
            )
            return
        text = msg.create_call_result(response).to_json()
        await self._send(text)
        self._log("out", 3, msg.action, msg.unique_id, response, text)
        after = self._routes[msg.action].get("_after_action")
        if after is not None:
            after(self, payload)

    def _acceptable(self, msg: Call) -> dict:
        """The payload to handle: as sent if it conforms to the schema; if its
        only faults are known vendor quirks and the station is lenient,
        normalised (the quirks counted with the next commit); else the
        schema's OCPPCallError."""
        try:
            schemas.validate(msg.action, msg.payload)
            return msg.payload
        except OCPPCallError:
            if (self.station.tolerance or gateway_settings.TOLERANCE) != tolerance.LENIENT:
                raise
            now = utcnow()
            try:
                tolerated = tolerance.tolerate(msg.action, msg.payload, now)
            except Exception:
                # A bug in excusing a frame must not change how it is refused.
                logger.exception("%s: tolerance check of %s failed", self.id, msg.action)
                tolerated = None
            if tolerated is None:
                raise
        example = [2, msg.unique_id, msg.action, msg.payload]
        self._writer().submit(
            lambda b: protocol_violations_note(
                batch=b,
                station_pk=self.station.pk,
                action=msg.action,
                violations=tolerated.violations,
                example=example,
                now=now,
            )
        )
        return tolerated.payload

    async def _send_error(self, unique_id: str, action: str, error: OCPPCallError) -> None:
        text = CallError(unique_id, str(error.code), error.description, error.details).to_json()
        await self._send(text)
        self._log(
            "out",
            4,
            action,
            unique_id,
            {
                "errorCode": str(error.code),
                "errorDescription": error.description,
                "errorDetails": error.details,
            },
            text,
        )

    def _log(
        self, direction: str, kind: int, action: str, unique_id: str, payload, raw: str, at=None
    ) -> bool:
        """Log a frame (`at`: when it came or went, default now); `raw` is its
        text as on the wire. True if it held text the database cannot store
        (then logged cleaned)."""
        unstorable = _UNSTORABLE.search(raw) is not None
        message_type = MESSAGE_TYPE_NAMES.get(kind, "INVALID")
        metrics.message_counted(direction, message_type, action)
        if kind == 4:
            metrics.error_counted(direction, payload.get("errorCode"))
        if unstorable:  # wherever the station put it: the payload, the unique id, the action
            action, unique_id, payload = _storable(action), _storable(unique_id), _storable(payload)
        # A station's action may be longer than any OCPP action, and than its column.
        action = action[:_LOG_ACTION_LENGTH]
        row = (self.station.station_id, direction, message_type, action, unique_id, payload, at or utcnow())
        self._writer().add_row(Values(MessageLog, _LOG_COLUMNS, row))
        return unstorable

    def _writer(self) -> GroupCommitter:
        """This connection's loop's writer, looked up once."""
        writer = self._commits
        if writer is None:
            writer = self._commits = committer()
        return writer

    # Calls to the station ----------------------------------------------------

    async def call_raw(self, action: str, payload: dict, timeout: float) -> CallResult | CallError:
        """Send one CALL exactly as given and wait for its reply.

        Raises TimeoutError (no reply in time), CallNotSent or ConnectionClosed (sent, then closed)."""
        unique_id = str(uuid.uuid4())
        future = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        self._pending_action[unique_id] = action
        try:
            text = Call(unique_id, action, payload).to_json()
            try:
                await self._send(text)
            except ConnectionClosed:
                raise CallNotSent() from None
            self._log("out", 2, action, unique_id, payload, text)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(unique_id, None)
            if future.done() and not future.cancelled():
                # Answered, or failed by the socket's close: no reply can follow.
                self._pending_action.pop(unique_id, None)
            else:
                # No reply in time (or never waited for): keep the action
                # name a while so that a late reply is logged with it.
                asyncio.get_running_loop().call_later(
                    LATE_REPLY_SECONDS, self._pending_action.pop, unique_id, None
                )

    def fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionClosed())

    # Station -> central system: the ten core actions --------------------------

    async def _db(self, unit):
        return await self._writer().run(unit)

    @on(Action.boot_notification)
    async def on_boot_notification(self, payload):
        now = utcnow()
        answer = await self._db(
            lambda b: reports.station_boot(batch=b, station_pk=self.station.pk, info=payload, now=now)
        )
        self.boot = answer
        return {
            "status": answer.status,
            "currentTime": format_time(now),
            "interval": gateway_settings.HEARTBEAT_INTERVAL,
        }

    @after(Action.boot_notification)
    def after_boot_notification(self, payload):
        # Only once the station has its BootNotification answer.
        if self._on_boot is not None:
            self._on_boot(self.boot, payload)

    @on(Action.heartbeat)
    async def on_heartbeat(self, payload):
        return {"currentTime": format_time(utcnow())}

    @on(Action.status_notification)
    async def on_status_notification(self, payload):
        self.status_notifications += 1
        now = utcnow()
        timestamp = _parsed(parse_time, payload["timestamp"]) if payload.get("timestamp") else None
        await self._db(
            lambda b: reports.connector_status_record(
                batch=b, station_pk=self.station.pk, payload=payload, timestamp=timestamp, now=now
            )
        )
        live_feed.station_changed(self.station.pk)
        return {}

    @on(Action.authorize)
    async def on_authorize(self, payload):
        # By the tag's own status. Reservations do not change the answer:
        # Authorize names no connector, and OCPP 1.6 §5.13 leaves matching a
        # reserved connector's idTag (or the parentIdTag we return) to the
        # station. A StartTransaction under a reservation marks it used.
        now = utcnow()
        info = await self._db(lambda b: id_tags.id_tag_info(id_tag=payload["idTag"], now=now))
        return {"idTagInfo": info}

    @on(Action.start_transaction)
    async def on_start_transaction(self, payload):
        now = utcnow()
        timestamp = _parsed(parse_time, payload["timestamp"])
        result = await self._db(
            lambda b: transactions.transaction_start(
                station_pk=self.station.pk,
                connector_id=payload["connectorId"],
                id_tag=payload["idTag"],
                meter_start=payload["meterStart"],
                timestamp=timestamp,
                reservation_id=payload.get("reservationId"),
                now=now,
            )
        )
        live_feed.station_changed(self.station.pk)
        return {"transactionId": result.transaction_id, "idTagInfo": result.id_tag_info}

    @on(Action.meter_values)
    async def on_meter_values(self, payload):
        meter_values = _parsed(parse_meter_values, payload["meterValue"])

        def unit(b):
            transactions.meter_values_record(
                batch=b,
                station_pk=self.station.pk,
                connector_id=payload["connectorId"],
                transaction_id=payload.get("transactionId"),
                meter_values=meter_values,
            )

        # Gathered on the event loop, unless every sample is priced with its
        # commit (LIVE_SESSION_SECONDS 0), which reads rows back: each would
        # be gathered twice, on the loop and again on the writer thread.
        await self._db(gathering(unit) if gateway_settings.LIVE_SESSION_SECONDS else unit)
        live_feed.station_changed(self.station.pk)
        return {}

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, payload):
        now = utcnow()
        timestamp = _parsed(parse_time, payload["timestamp"])
        transaction_data = _parsed(parse_meter_values, payload.get("transactionData") or [])
        info = await self._db(
            lambda b: transactions.transaction_stop(
                batch=b,
                station_pk=self.station.pk,
                transaction_id=payload["transactionId"],
                id_tag=payload.get("idTag"),
                meter_stop=payload["meterStop"],
                timestamp=timestamp,
                reason=payload.get("reason", ""),
                transaction_data=transaction_data,
                payload=payload,
                now=now,
            )
        )
        live_feed.station_changed(self.station.pk)
        return {"idTagInfo": info} if info else {}

    @on(Action.data_transfer)
    async def on_data_transfer(self, payload):
        now = utcnow()
        return await self._db(
            lambda b: reports.data_transfer_record(station_pk=self.station.pk, payload=payload, now=now)
        )

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, payload):
        await self._event(StationEvent.Kind.DIAGNOSTICS, payload["status"])
        return {}

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, payload):
        await self._event(StationEvent.Kind.FIRMWARE, payload["status"])
        return {}

    # Station -> central system: the OCPP 1.6 security extension ----------------

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, payload):
        await self._event(
            StationEvent.Kind.SECURITY,
            payload["type"],
            timestamp=_parsed(parse_time, payload["timestamp"]),
            detail=payload.get("techInfo", ""),
        )
        return {}

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, payload):
        # The CSR is kept for staff. Signing it (a CA, then CertificateSigned
        # to the station) is not something this central system does.
        await self._event(StationEvent.Kind.CERTIFICATE, "Accepted", detail=payload["csr"])
        return {"status": "Accepted"}

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, payload):
        await self._event(StationEvent.Kind.LOG, payload["status"], request_id=payload.get("requestId"))
        return {}

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(self, payload):
        await self._event(
            StationEvent.Kind.SIGNED_FIRMWARE, payload["status"], request_id=payload.get("requestId")
        )
        return {}

    async def _event(self, kind: str, status: str, **details) -> None:
        now = utcnow()
        await self._db(
            lambda b: reports.station_event_record(
                station_pk=self.station.pk, kind=kind, status=status, now=now, **details
            )
        )
