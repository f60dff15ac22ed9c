"""Daphne's socket writes go to the socket at once, as asyncio's do.

Twisted buffers every `write()` and asks the reactor to say when the socket
is writable (an epoll_ctl), writes on a later turn of the event loop and
stops asking (another epoll_ctl): two system calls and a loop turn for every
frame sent, a fifth of the event loop's time under saturated MeterValues.
asyncio's transports (Uvicorn's) try the socket first and buffer only what it
did not take; `apply()` makes Twisted's plain TCP connections do the same
when nothing is waiting to be written before them. Everything else (TLS, a
pull or paused producer, a connection closing, a full socket, a lost one) takes
Twisted's own path, which also notices and reports the errors.

Applied from `evpower.asgi`; a no-op for servers that do not use Twisted."""

from twisted.internet import tcp

_buffered_write = tcp.Connection.write


def _write(self: tcp.Connection, data: bytes) -> None:
    if (
        type(data) is bytes
        and data
        and not self.TLS
        and self.connected
        and not self.disconnecting
        and not self._writeDisconnecting
        and not self._writeDisconnected
        # Twisted's HTTP channel stays registered as the socket's streaming
        # producer after the WebSocket upgrade: paused only when the buffer is
        # full, so nothing changes for it. A pull producer is asked for more
        # when the buffer empties: Twisted's path.
        and (self.producer is None or (self.streamingProducer and not self.producerPaused))
        and not self._tempDataLen
        and self.offset == len(self.dataBuffer)
    ):
        sent = self.writeSomeData(data)
        # An exception (connection lost) is left to Twisted's write path to report.
        if type(sent) is int and sent > 0:
            if sent == len(data):
                return
            data = data[sent:]
    _buffered_write(self, data)


def apply() -> None:
    tcp.Connection.write = _write
