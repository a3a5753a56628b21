"""Juchong cloud: Flask app factory, data model, ingest, CA and provisioning, `jc-cloud`."""

from cloud.app import create_app

__all__ = ["create_app"]
