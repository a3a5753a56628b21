"""The money ledger: double-entry, integer fen, balances the database keeps non-negative.

`cloud.ledger.service` holds the plain functions (no Flask objects) that the API, console,
jobs and CLI call; `cloud.ledger.models` the tables; `cloud.ledger.accounts` the chart of
accounts.
See docs/money.md.
"""
