"""Shared plumbing for the HomeLab exporter and bot: version, settings loading and logging."""

__version__ = "0.1.0"
