"""Dashboards: one registry of types, each a pure function from (parameters, data) to a message."""
