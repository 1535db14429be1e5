"""Run only by tests/integration/test_harness.py (not collected by default): a failing test
that uses a real service, to check the harness attaches its log and cleans up."""

from __future__ import annotations

import os

from tests.harness.services import NodeExporter


def test_fails_while_service_runs(node_exporter: NodeExporter) -> None:
    """Deliberately fails with node_exporter running."""
    print(f"NODE_EXPORTER_PID={node_exporter.proc.pid if node_exporter.proc else 0}")
    assert os.environ.get("HARNESS_EXAMPLE_PASS") == "1", "deliberate failure"
