"""bot interfaces console."""
