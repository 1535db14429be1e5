"""bot interfaces discord."""
