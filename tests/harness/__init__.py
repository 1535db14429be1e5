"""Test harness: real services on loopback."""
