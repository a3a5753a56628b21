"""Stations for drivers: the archive (address, coordinates, guns' QR codes) and the finder (service.py)."""
