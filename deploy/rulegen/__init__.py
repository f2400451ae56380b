"""Prometheus rule generation from the standards file: what operators deploy (deploy/prometheus).

Installed as ``servicepulse.rulegen``; pure (no Kafka, no clock), run by ``servicepulse rules``.
"""
