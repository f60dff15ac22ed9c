"""Take the README's screenshots of a running server (headless Debian chromium).

    python docs/screenshots.py http://127.0.0.1:8000 USER PASSWORD

Start some stations first (`manage.py simulate_station DEMO --count 3 --auto-start TAG`)."""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

PAGES = {
    "landing": "/",
    "stations": "/admin/stations/station/",
    "station": "/admin/stations/station/{station}/change/",
    "sessions": "/admin/billing/session/",
    "messages": "/admin/stations/messagelog/",
    "dashboard": "/dashboard",
    "dashboard-ru": "/dashboard",
}


def main(base: str, username: str, password: str, station: str = "1") -> None:
    out = Path(__file__).resolve().parent / "screenshots"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(base + "/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        for name, path in PAGES.items():
            if name.endswith("-ru"):
                page.context.add_cookies([{"name": "django_language", "value": "ru", "url": base}])
            page.goto(base + path.format(station=station))
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / f"{name}.png"))
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
