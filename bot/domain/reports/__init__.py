"""Scheduled and on-demand reports: periods, statistics and the section registry (pure)."""
