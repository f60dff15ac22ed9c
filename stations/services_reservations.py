"""The reservation services the OCPP gateway calls (see `stations.reservations`)."""

from stations.reservations import reservation_use, reservations_expire

__all__ = ["reservation_use", "reservations_expire"]
