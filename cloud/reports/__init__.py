"""The operator console's figures and reports (home figures, charging by day, stations by
state, revenue by fee type) and their streaming CSV / Excel exports; docs/reports.md."""
