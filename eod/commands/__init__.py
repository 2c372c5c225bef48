"""Subcommands of `eod`; each module defines `register(subparsers)`."""
