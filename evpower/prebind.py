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

# Where the listening socket is handed over: the first descriptor of the
# systemd socket-activation protocol, which Twisted reads for Daphne.
FD = 3


def server_command(family: socket.AddressFamily, server: str, options: list[str]) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--fd", str(FD), *options]
    if server == "daphne":
        domain = "INET6" if family == socket.AF_INET6 else "INET"
        return [sys.executable, "-m", "daphne", "-e", f"systemd:domain={domain}:index=0", *options]
    raise SystemExit(f"ASGI_SERVER must be daphne or uvicorn, not {server}")


def main(argv: list[str]) -> None:
    host, port, backlog, server, *options = argv
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    command = server_command(family, server, options)  # an unknown server: refused before binding
    listener = socket.create_server((host, int(port)), family=family, backlog=int(backlog))
    if listener.fileno() != FD:
        os.dup2(listener.fileno(), FD)
    os.set_inheritable(FD, True)  # (dup2 onto itself would leave it closed on exec)
    # For the same process after exec (Twisted also wants the socket's name).
    env = {**os.environ, "LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid()), "LISTEN_FDNAMES": "evpower"}
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main(sys.argv[1:])
