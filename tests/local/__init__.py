"""Tests of the local stack (local/batchplane_local)."""
