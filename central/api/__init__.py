"""The HTTP API, one module per resource in ``routes``."""
