"""Everything tests share: fixtures (registered by tests/conftest.py), helpers, fakes and
type aliases. Tests import from here, never from a conftest or from another test module."""
