"""Test and benchmark support: a real server process, devices, users and events (``server``), a throwaway
PostgreSQL cluster (``pg``), a fault proxy (``proxy``) and the shared pytest fixtures (``pytest_plugin``).

Lives outside the installed packages: it is used by tests/, bench/ and tools/ from a source checkout.
"""
