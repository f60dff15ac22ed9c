"""Routes of the central-system command state API: reservations, charging profiles, local list."""

urlpatterns: list = []
