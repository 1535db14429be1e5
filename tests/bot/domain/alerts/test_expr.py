"""Taking an alert's expression apart for its graph."""

from __future__ import annotations

from bot.domain.alerts.expr import Comparison, split_comparison


def test_the_rules_threshold_form_splits_into_measure_and_threshold() -> None:
    """`x > on (instance) group_left () (t)` -> measured x, threshold t (modifiers dropped)."""
    expr = (
        "instance:node_cpu_busy:ratio > on (instance) group_left () "
        '(min by (instance) (homelab_alert_threshold{alertname="HostHighCpu", instance!=""}))'
    )
    c = split_comparison(expr)
    assert c is not None
    assert c.lhs == "instance:node_cpu_busy:ratio" and c.op == ">"
    assert c.rhs.startswith("(min by (instance)")


def test_operators_inside_selectors_strings_and_calls_are_not_split() -> None:
    """`!=` in a selector, `>` in a string or inside parentheses are not the comparison."""
    assert split_comparison('rate(x{a!="b"}[5m])') is None
    assert split_comparison('label_replace(up, "a", ">", "b", "")') is None
    assert split_comparison("max(a > 1)") is None
    assert split_comparison("up == 0") == Comparison("up", "==", "0")
    assert split_comparison("a >= bool 3") == Comparison("a", ">=", "3")
