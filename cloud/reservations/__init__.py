"""Reservations of guns (docs/reservations.md): per-station rules, the driver's reservation
with its fee, the `reserve`/`cancel_reservation` commands, expiry and no-shows."""
