"""bot services."""
