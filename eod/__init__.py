"""End-of-day close for a centralised crypto exchange."""

__version__ = "0.1.0"
