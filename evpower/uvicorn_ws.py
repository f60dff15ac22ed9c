"""Uvicorn's sans-I/O WebSocket protocol, reading a station's socket without
a pause per message.

`bin/asgi-server` names this class to Uvicorn (`--ws`), which imports it."""

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

# Messages waiting for the application before the socket is no longer read.
# A station sends one CALL at a time (OCPP-J) and answers ours: more waiting
# means a client that does not wait for answers; then the kernel's buffers
# and TCP hold it back, as Uvicorn does for every message.
BACKLOG = 4


class StationWebSocketProtocol(WebSocketsSansIOProtocol):
    """Uvicorn stops reading the socket after every message until the
    application has taken it, then reads again: two epoll_ctl calls per frame,
    a tenth of the server's CPU under saturated MeterValues. Here reading
    stops only when BACKLOG messages wait (resumed, as before, once the
    application has taken them all)."""

    def send_receive_event_to_app(self) -> None:
        paused = self.read_paused
        self.read_paused = True  # so that Uvicorn's own pause is skipped
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = paused
        # Not once our close is sent: Uvicorn reads on for the peer's Close.
        if not paused and not self.close_sent and self.queue.qsize() >= BACKLOG:
            self.read_paused = True
            self.transport.pause_reading()
