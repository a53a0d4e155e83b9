"""Test and benchmark support: a throwaway PostgreSQL, a real server process, devices, users and events.

Lives outside the installed packages: it is used by tests/, bench/ and tools/ from a source checkout.
"""
