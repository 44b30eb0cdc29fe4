"""The lineage table (single-table design): one DynamoDB table behind the job, lifecycle, dependency and artifact
ports, one module per thing it stores.

Keys (see README, "Data model"):
  job        pk=JOB#<jobId>            sk=JOB       the job and, in map ``att``, every attempt ("1", "2", ...):
                                                    one item, so an event is one guarded write and a read one get
  listing    pk=JOB#<jobId>            sk=LISTED    a job's entry in gsi1, written once with it (items.listing_item)
  gsi1       gsi1pk=TENANT#<tenant>    gsi1sk=<createdAt>#<jobId>    the tenant's jobs, newest first: listing items,
             and job items that list themselves (held and pipeline jobs, jobs written before listing items)
             gsi1pk=QUOTAS#<shard>     gsi1sk=<tenant>    every tenant's registry item (pk=QUOTA#<tenant>,
             sk=LISTED: counters.registry_item); counter items written before (sk=TENANT; legacy key: QUOTAS)
  gsi2       gsi2pk=<ACTIVE|RUNNABLE|RETRY|HELD>#<shard>  (domain/sweep_keys.py; legacy items: the bare bucket)
             gsi2sk=<due ms>#<jobId> (ACTIVE, RETRY) | <runnable since ms> (RUNNABLE) | <createdAt> (HELD)
             jobs not yet terminal, by what the sweeper watches them for (sparse: terminal jobs leave the index)
  artifact   pk=ARTIFACT#<uri>         sk=JOB#<jobId>#<input|output>    lineage edges (artifacts.py)
  lease      pk=LEASE#<name>           sk=LEASE     single-flight leases (leases.py)

Modules: `items` (how a job and its attempts are encoded, and the conditions every write shares), `jobs` (the
JobStore port: create, read, list, cancel), `attempts` (the lifecycle store: events applied to attempts, and the
attempts that follow), `leases` (leases and the sweeper's bucket reads), `dependencies` (held jobs), `artifacts`
(lineage edges). Each is imported on its own: this package imports nothing.
"""
