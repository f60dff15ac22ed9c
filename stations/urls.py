"""Routes of the station management API (filled in as the views land)."""

urlpatterns: list = []
