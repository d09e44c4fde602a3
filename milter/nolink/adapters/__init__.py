"""Adapters around the pure core: the pymilter service and its worker processes, the CLI, the SMS HTTP endpoint."""
