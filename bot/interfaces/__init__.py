"""bot interfaces."""
