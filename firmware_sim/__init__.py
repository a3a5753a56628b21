"""Juchong station simulator (`jc-sim`): charging piles per spec/pile-modbus-map.md, the
ARCM300T transformer meter per spec/arcm300t.md, EVs and faults, served over Modbus TCP
and Modbus RTU (a pseudo-terminal), with a JSON control API. See docs/simulator.md.

This package is the "pile firmware": it implements the specs on its own and never imports
the gateway (`edge`).
"""

__version__ = "0.1.0"
