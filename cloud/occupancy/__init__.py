"""Occupancy forecast from history (docs/trips.md, "Occupancy at arrival")."""
