"""/dashboard in a real headless browser (Debian's chromium through Playwright)
against a real server: a station's status and energy show up without a reload."""

import shutil

import pytest
import websockets
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from evpower.models import Role
from tests.factories import PASSWORD, UserFactory
from tests.station import now_iso, station_session

playwright_api = pytest.importorskip("playwright.async_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not shutil.which(CHROMIUM), reason="chromium is not installed (bin/test installs it as root)"
    ),
]


@pytest.fixture
async def page():
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        yield page
        await browser.close()


async def _sign_in(page, server, next_path="/dashboard"):
    user = await sync_to_async(UserFactory)(role=Role.OPERATOR)
    await page.goto(f"{server.url}/admin/login/?next={next_path}")
    await page.fill("#id_username", user.username)
    await page.fill("#id_password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.url}{next_path}")


async def test_dashboard_shows_status_and_energy_as_they_arrive(server, page):
    await _sign_in(page, server)
    await page.wait_for_selector('#live-state[data-state="live"]')
    await page.evaluate("window.notReloaded = true")

    async with station_session(server, "CP-DASH") as cp:
        card = '[data-station="CP-DASH"]'
        await page.wait_for_selector(f'{card} [data-role="online"]:has-text("online")')

        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        await page.wait_for_selector(f'{card} [data-connector="1"][data-status="Charging"]')

        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="ANY", meter_start=1000, timestamp=now_iso())
        )
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[{"timestamp": now_iso(), "sampledValue": [{"value": "3500", "unit": "Wh"}]}],
            )
        )
        await page.wait_for_selector(f'{card} [data-role="energy"]:has-text("2.500 kWh")')
        await page.wait_for_function(
            "Number(document.getElementById('energy-total').textContent.split(' ')[0]) >= 2.5"
        )

        assert await page.evaluate("window.notReloaded") is True


async def test_dashboard_refuses_anonymous_browsers(server, page):
    await page.goto(f"{server.url}/dashboard")
    assert "/admin/login/" in page.url

    origin = {"Origin": server.url}
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}/live/dashboard", additional_headers=origin
        ):
            pass


async def test_dashboard_socket_refuses_a_foreign_origin(start_server, page):
    # With DEBUG's ALLOWED_HOSTS "*" every origin passes; a real deployment names its hosts.
    server = start_server(ALLOWED_HOSTS="127.0.0.1")
    await _sign_in(page, server)
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    headers = {"Origin": "http://evil.example", "Cookie": f"sessionid={cookies['sessionid']}"}
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}/live/dashboard", additional_headers=headers
        ):
            pass
