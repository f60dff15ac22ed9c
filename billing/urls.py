"""Tariff and charging-session endpoints."""

urlpatterns = []
