"""batchplane on your machine: the user CLI, its HTTP client and the local stack."""
