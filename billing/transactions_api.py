"""`/ocpp/transactions`: raw OCPP transactions (filled in as the views land)."""

urlpatterns: list = []
