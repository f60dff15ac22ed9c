"""State kept from the answers stations give to central-system commands."""


def command_result_apply(*, station_pk: int, action: str, request: dict, response: dict) -> None:
    """Apply an answered command to what we know of the station."""
    handler = _HANDLERS.get(action)
    if handler is not None:
        handler(station_pk=station_pk, request=request, response=response)


_HANDLERS: dict = {}
