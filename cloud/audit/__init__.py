"""The audit log (a domain package): who changed what, when and from where. docs/console.md."""
