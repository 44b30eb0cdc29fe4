"""`python -m batchplane_local.cli` is the `batchplane` CLI."""

from batchplane_local.cli import main

main()
