"""Charging orders: the state machine (`machine`, pure), the tables (`models`) and the
service functions (`service`) that move an order and post to the ledger in one transaction."""
