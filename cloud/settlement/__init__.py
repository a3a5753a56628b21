"""Settlement with station owners (分账): shares per station, daily statements, periods that
close (docs/settlement.md)."""
