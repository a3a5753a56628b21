"""Alarms (a domain package): what stations report as wrong (events, the gateway's own alarm
list, going offline), raised and cleared with their evidence, acknowledged with a note, and
the SMS notifications they cause (`service`, `notify`, `jobs`; no Flask request objects)."""
