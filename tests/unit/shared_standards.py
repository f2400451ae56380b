"""Standards several unit test modules use.

TTFR is also what deploy/standards.example.yaml says for irs/refunds/web (test_standards checks
it), so the aggregate tests exercise the standard operators start from.
"""

from __future__ import annotations

from servicepulse.processors.standards import Standard

TTFR = Standard(
    name="time_to_first_response",
    kind="duration",
    target=14400.0,
    objective=0.90,
    direction="at_most",
    minimum_sample=20,
    at_risk_margin=0.10,
)
ABANDON = Standard("abandonment_rate", "rate", 0.05, None, "at_most", 20, 0.10)
CSAT = Standard("csat", "rate", 0.80, None, "at_least", 20, 0.10)
