"""bot adapters."""
