"""The alerts domain: Alertmanager payloads, routing, dedupe keys, formatting."""
