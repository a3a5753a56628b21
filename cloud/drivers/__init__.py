"""Driver accounts: who drives and pays (as Netflix Lemur shapes a domain).

`models` holds the tables (drivers, their login sessions, their payment password);
`service` the plain functions the API views, the console, jobs and the CLI call with a
SQLAlchemy session (no Flask request objects). Decision logic is pure and apart:
`profile` (field rules), `tokens` (our bearer tokens), `lockout` (payment password attempts),
`paypassword` (format and argon2 hashing). Errors are `errors.DriverError` with stable codes.
"""
