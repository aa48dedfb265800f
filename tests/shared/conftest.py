"""Fixtures of the shared package's tests."""

from tests.oidc_support import oidc_issuer  # noqa: F401 - a fixture, offered to every module
