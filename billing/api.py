"""Tariff and charging-session endpoints (being written)."""
