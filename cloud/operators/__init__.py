"""Console operators (a domain package): accounts with a role, argon2 passwords, lockout,
server-side console sessions, the role rules (`roles`, pure) and owner scoping
(`service.visible_sids`). docs/console.md."""
