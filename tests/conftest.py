"""Registers the shared fixtures; they live in tests.support.fixtures (tests import helpers
from tests.support, never from a conftest)."""

pytest_plugins = ["tests.support.fixtures"]
