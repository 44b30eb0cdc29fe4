"""The one AWS account and region the local stack emulates."""

REGION = "us-east-1"
ACCOUNT = "123456789012"
