"""Container HEALTHCHECK: exit 0 when this container's `/health` answers 200.

The Host header is one the server accepts (the first of ALLOWED_HOSTS), so the
check passes with DEBUG off too."""

import http.client
import os
import sys


def main() -> int:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
    connection = http.client.HTTPConnection("127.0.0.1", int(os.environ.get("PORT", "8000")), timeout=5)
    try:
        connection.request("GET", "/health", headers={"Host": host})
        status = connection.getresponse().status
    except OSError as exc:
        print(f"unhealthy: {exc}")
        return 1
    print(f"/health: {status}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
