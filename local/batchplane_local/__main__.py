"""`python -m batchplane_local` is the `batchplane` CLI."""

from batchplane_local.cli import main

main()
