"""The store backends' fixtures (a private PostgreSQL, an in-process S3): see tests/lake_fixtures.py."""

from tests.lake_fixtures import postgres, s3_bucket, s3_endpoint, shared_store, store  # noqa: F401 - fixtures
