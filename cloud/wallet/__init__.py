"""The driver's wallet (a domain package): WeChat Pay recharges and session prepayments, their
notifications and reconciliation, balance refunds split across the paid payments, and the
wallet's views of the ledger. `service` holds plain functions (no Flask request objects);
`jobs` the periodic ones; `split` the pure refund split. docs/payments.md explains it."""
