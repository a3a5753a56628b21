"""Private pile sharing: a driver's own gun open to others at set hours (docs/sharing.md)."""
