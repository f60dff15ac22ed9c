def strip_trailing_slash(endpoints, **kwargs):
    """Document paths as clients should call them: without a trailing slash
    (each route also accepts one, see `api_path`)."""
    return [(path.rstrip("/") or "/", regex, method, view) for path, regex, method, view in endpoints]


def document_query_errors(result, generator, request, public):
    """Postprocessing hook: every operation with query parameters documents
    the 400 that `evpower.api.filters` answers for an unknown parameter or a
    value outside a filter's choices."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            if not any(p.get("in") == "query" for p in operation.get("parameters", [])):
                continue
            operation.setdefault("responses", {}).setdefault(
                "400",
                {
                    "description": "`unknown_parameter` (the detail names the allowed ones) or "
                    "`validation_error` (a filter value outside its allowed values, named).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOutput"}}},
                },
            )
    return result
