"""Tariffs (a domain package): versioned tariff bodies and which one a station uses from when.

A tariff body is never edited once stored: a price change is a new version (a new id) and a
new assignment with its start time, so a session is always billed with the tariff that was in
force when it ran (docs/money.md)."""
