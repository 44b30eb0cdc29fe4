"""The local stack: template.yaml provisioned on one machine (moto + a local AWS Batch that really runs jobs)."""
