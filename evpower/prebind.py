"""Listen first, then load the application: how bin/asgi-server starts a server.

    python -m evpower.prebind HOST PORT BACKLOG daphne|uvicorn [server options]

Loading Django and the project takes a second or two. A station that
reconnects meanwhile (after a restart, every one of them at once) was
refused, and backed off by its own schedule, often far longer than the load
took: in the benchmark's storm of 10,000 stations, thousands of refusals
each cost a station its back-off. Listening first, before anything heavy is
imported, the kernel holds those connections in the accept queue until the
server takes them. The server adopts the listening socket (Uvicorn's --fd; for Daphne, Twisted's
systemd: endpoint, the socket-activation protocol); nothing else changes.
"""

import os
import socket
import sys

from evpower.gc_tuning import SERVER_PROCESS_ENV

# Where Daphne takes the listening socket: the first descriptor of the
# systemd socket-activation protocol, which Twisted reads.
SYSTEMD_FD = 3


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """The listening socket, as the servers would make it themselves, and
    with TCP_NODELAY, which accepted connections inherit (Linux): Uvicorn
    adopts it as a Unix socket (socket.fromfd), so asyncio no longer turns
    Nagle off per connection, and a small frame written after another one
    waited for the peer's delayed ACK (40 ms); Twisted never turned it off."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # "::" takes IPv4 too, as both servers' own binds did.
    dualstack = family == socket.AF_INET6 and socket.has_dualstack_ipv6()
    listener = socket.create_server((host, port), family=family, backlog=backlog, dualstack_ipv6=dualstack)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


def server_command(listener: socket.socket, server: str, options: list[str]) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--fd", str(listener.fileno()), *options]
    if server == "daphne":
        domain = "INET6" if listener.family == socket.AF_INET6 else "INET"
        return [sys.executable, "-m", "daphne", "-e", f"systemd:domain={domain}:index=0", *options]
    raise SystemExit(f"ASGI_SERVER must be daphne or uvicorn, not {server}")


def main(argv: list[str]) -> None:
    host, port, backlog, server, *options = argv
    if server == "daphne" and _is_open(SYSTEMD_FD):
        raise SystemExit(f"descriptor {SYSTEMD_FD} is open already: Daphne takes the listening socket there")
    try:
        listener = listen(host, int(port), int(backlog))
    except OSError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc}") from None
    command = server_command(listener, server, options)
    # A long-running server: its collector leaves out what survives (evpower.gc_tuning).
    env = dict(os.environ, **{SERVER_PROCESS_ENV: "1"})
    if server == "daphne":
        if listener.fileno() != SYSTEMD_FD:
            os.dup2(listener.fileno(), SYSTEMD_FD)
        # For the same process after exec (Twisted also wants the socket's name).
        env.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="evpower")
    # (dup2 onto itself would leave it closed on exec)
    os.set_inheritable(SYSTEMD_FD if server == "daphne" else listener.fileno(), True)
    os.execve(command[0], command, env)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    main(sys.argv[1:])
