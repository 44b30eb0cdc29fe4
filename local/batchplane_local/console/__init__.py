"""The web console: its static assets and `batchplane console`'s forwarding proxy."""
