"""Query parameters of the API, checked in one place: a parameter a view does
not know is refused (400 `unknown_parameter`, naming the ones it knows) instead
of silently ignored, and a value outside a filter's choices is refused naming
the allowed values.

What a view knows: its FilterSet's filters, the paginator's `page` and
`page_size`, and the names in the view's `query_params` (parameters it reads
itself, documented with `extend_schema`)."""

import django_filters
from django_filters.rest_framework import DjangoFilterBackend

from evpower.errors import DomainError, Invalid

BOOLEAN_VALUES = ("true", "false")


def allowed_query_params(view, filterset_class=None) -> list[str]:
    names = list(getattr(view, "query_params", ()))
    if filterset_class is not None:
        names += list(filterset_class.base_filters)
    paginator = getattr(view, "paginator", None)
    if paginator is not None:
        names += [
            name
            for name in (
                getattr(paginator, "page_query_param", None),
                getattr(paginator, "page_size_query_param", None),
            )
            if name
        ]
    return sorted(set(names))


def unknown_parameter_check(request, view, filterset_class=None) -> None:
    """Raise DomainError `unknown_parameter` (400) for a query parameter `view` does not know."""
    allowed = allowed_query_params(view, filterset_class)
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise DomainError(
            "unknown_parameter",
            f"Unknown query parameter {', '.join(unknown)}; allowed: {known}.",
            {
                "fields": {name: [f"Unknown parameter; allowed: {known}."] for name in unknown},
                "allowed": allowed,
            },
        )


def _choices(filter_) -> list[str] | None:
    if isinstance(filter_, django_filters.BooleanFilter):
        return list(BOOLEAN_VALUES)
    choices = filter_.extra.get("choices")
    if choices is None:
        return None
    return [str(value) for value, _ in (choices() if callable(choices) else choices)]


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend, refusing unknown parameters and naming allowed values."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        unknown_parameter_check(request, view, filterset_class)
        if filterset_class is None:
            return queryset
        self._choices_check(request, filterset_class)
        return super().filter_queryset(request, queryset, view)

    @staticmethod
    def _choices_check(request, filterset_class) -> None:
        errors = {}
        for name, filter_ in filterset_class.base_filters.items():
            value = request.query_params.get(name)
            allowed = _choices(filter_)
            if value in (None, "") or allowed is None:
                continue
            if value not in allowed:
                errors[name] = [f"{value!r} is not one of: {', '.join(allowed)}."]
        if errors:
            raise Invalid(errors)
