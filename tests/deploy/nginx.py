"""A real nginx running the shipped configuration, rendered for local ports and a test certificate."""

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "nginx"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for localhost and 127.0.0.1: (fullchain, privkey)."""
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    names = ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    subprocess.run(
        ["openssl", *request, *names, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def _substitute(text: str, pattern: str, replacement: str, count: int) -> str:
    """re.sub that fails loudly when the shipped file no longer has the expected shape."""
    result, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert found == count, f"expected {count} of {pattern!r} in the shipped nginx config, found {found}"
    return result


def render(directory: Path, backend_ports: list[int], http_port: int, https_port: int) -> Path:
    """The shipped nginx.conf + evpower.conf + backend-systemd.conf, pointed at local ports; the main file."""
    cert, key = make_certificate(directory)
    conf_d = directory / "conf.d"
    conf_d.mkdir()

    site = (SHIPPED / "evpower.conf").read_text()
    site = _substitute(site, r"^\s*listen \[::\]:(80|443).*\n", "", 2)
    site = _substitute(site, r"listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;", 1)
    site = _substitute(
        site, r"listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl default_server;", 1
    )
    site = _substitute(site, r"/etc/nginx/tls/fullchain\.pem", str(cert), 1)
    site = _substitute(site, r"/etc/nginx/tls/privkey\.pem", str(key), 1)
    (conf_d / "evpower.conf").write_text(site)

    backend = (SHIPPED / "backend-systemd.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in backend_ports)
    backend = _substitute(backend, r"^    server 127\.0\.0\.1:800[1-4];\n", "", 4)
    backend = _substitute(backend, r"^(upstream evpower_app \{\n)", rf"\g<1>{servers}", 1)
    (conf_d / "backend.conf").write_text(backend)

    main = (SHIPPED / "nginx.conf").read_text()
    temp_paths = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = _substitute(
        main, r"^    include /etc/nginx/conf\.d/\*\.conf;\n", f"    include {conf_d}/*.conf;\n{temp_paths}", 1
    )
    main = _substitute(main, r"/var/log/nginx/access\.log", str(directory / "access.log"), 1)
    if not Path("/etc/nginx/mime.types").exists():
        main = _substitute(main, r"^    include /etc/nginx/mime\.types;\n", "", 1)
    path = directory / "nginx.conf"
    path.write_text(main)
    return path


def _globals(directory: Path) -> str:
    directives = f"pid {directory / 'nginx.pid'}; error_log {directory / 'error.log'} info;"
    if os.geteuid() == 0:
        # Workers as root: they write temp files inside the test's private directory.
        directives += " user root;"
    return directives


def check(config: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on a rendered configuration."""
    return subprocess.run(
        [nginx_binary(), "-t", "-p", str(config.parent), "-c", str(config), "-g", _globals(config.parent)],
        capture_output=True,
        text=True,
        timeout=30,
    )


class Nginx:
    def __init__(self, config: Path, ports: list[int]):
        self.directory = config.parent
        self.proc = subprocess.Popen(
            [
                nginx_binary(),
                "-p",
                str(self.directory),
                "-c",
                str(config),
                "-g",
                f"daemon off; {_globals(self.directory)}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        for port in ports:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nginx exited: {self.log()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"nginx did not listen on {port}: {self.log()}") from None
                    time.sleep(0.1)

    def log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
