"""A local AWS Batch: jobs really run as subprocesses and emit "Batch Job State Change" events in AWS's shape.

`engine.LocalBatch` is the emulator (its scheduler, runner, state and API shapes each in a module of their own,
listed in engine's docstring); `api.BatchApi` serves it over AWS Batch's REST-JSON wire protocol so
that an unmodified boto3 ``batch`` client (``endpoint_url=...``) can drive it.
"""

from batchplane_local.batch.engine import BatchClientError, LocalBatch

__all__ = ["BatchClientError", "LocalBatch"]
