def strip_trailing_slash(endpoints, **kwargs):
    """Document paths as clients should call them: without a trailing slash
    (each route also accepts one, see `api_path`)."""
    return [(path.rstrip("/") or "/", regex, method, view) for path, regex, method, view in endpoints]
