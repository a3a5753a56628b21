"""Battery-swap stations (换电站): bays, packs by type, swap bookings (docs/swap.md)."""
