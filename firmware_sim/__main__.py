"""`python -m firmware_sim ...` is `jc-sim ...`."""

from .cli import main

main(prog_name="jc-sim")
