"""Prefect flows of the EOD close."""
