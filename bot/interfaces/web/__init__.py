"""bot interfaces web."""
