"""Development tooling, apart from the runtime: `make run`'s launcher (stack), the
embedded Redis for machines without one, and `manage.py ensure_superuser`.

The runtime apps (project, gateways, tickets, payments, workers) never import it.
"""
