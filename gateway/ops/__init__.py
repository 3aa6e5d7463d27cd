"""The operators' edge: health, readiness and the Prometheus exposition.

The counters stay in the core that bumps them (`gateway.metrics`); ops only reads them.
"""
