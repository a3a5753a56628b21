"""Periodic jobs (`jc-cloud jobs`): small idempotent tasks, each in its own module, listed in
`registry.JOBS`; a lease per job lets several job processes run side by side."""
