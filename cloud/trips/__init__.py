"""Trip planning with charging stops (docs/trips.md): the pure planner and its road data, the service."""
