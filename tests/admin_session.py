"""A signed-in back-office browser session against a live server, with `requests`."""

import asyncio
import html
import re

import requests

from tests.factories import PASSWORD


class AdminSession:
    """Logs in through /admin/login/ like a person; `action()` runs a changelist action."""

    def __init__(self, server, username: str):
        self.server = server
        self.http = requests.Session()
        page = self.http.get(server.url + "/admin/login/", timeout=30)
        assert page.status_code == 200, page.text[:500]
        response = self.http.post(
            server.url + "/admin/login/?next=/admin/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": self._csrf()},
            headers={"Referer": server.url + "/admin/login/"},
            timeout=30,
        )
        assert response.url.endswith("/admin/"), response.text[:1000]

    def _csrf(self) -> str:
        return self.http.cookies["csrftoken"]

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.server.url + path, timeout=60)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.http.post(
            self.server.url + path,
            data={**data, "csrfmiddlewaretoken": self._csrf()},
            headers={"Referer": self.server.url + path},
            timeout=90,
        )

    def action(self, changelist: str, action: str, pks: list, **form) -> requests.Response:
        data = {"action": action, "_selected_action": [str(pk) for pk in pks], **form}
        if form:
            data["apply"] = "1"
        return self.post(changelist, data)


def messages_of(response: requests.Response) -> list[str]:
    """The admin messages shown on a page, as text."""
    found = re.findall(r'<li class="\*:mb-0!">(.*?)</li>', response.text, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in found]


async def in_thread(func, *args, **kwargs):
    """Blocking HTTP off the event loop: the test station must keep answering meanwhile."""
    return await asyncio.to_thread(func, *args, **kwargs)
