"""Thin cogs: app commands that call the core's handlers."""
