"""bot domain."""
