from django.urls import re_path


def api_path(route: str, view, name: str):
    """A URL pattern that matches with or without a trailing slash.

    `route` is a regex body without anchors, e.g. r"ocpp/stations/(?P<station_id>[^/]+)".
    """
    return re_path(rf"^{route}/?$", view, name=name)
