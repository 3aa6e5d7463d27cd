"""The operators' edge: health, readiness, the Prometheus exposition and the ops port.

The counters stay in the core that bumps them (`gateway.metrics`); ops only reads them.
"""
