"""OCPP 1.6J itself: frames, compiled schemas, error codes, date-times.

A leaf: it imports nothing of this project, so every app may use it."""
