"""batchplane: the shared package of every batchplane Lambda function (built as a layer)."""
