"""Billing: charging orders judged and booked from the gateway's signed records (`judge`,
pure) and moved by them (`service`)."""
