"""Charging: starting, following, stopping and rating a charging order (service.py)."""
