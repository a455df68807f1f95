"""Shared test setup: a hypothesis profile without deadlines (CI machines vary in speed), no proxy from the machine."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


NETWORK_VARIABLES = [
    spelling
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for spelling in (name, name.upper())
] + ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"]


@pytest.fixture(autouse=True)
def no_network_settings_from_the_machine(monkeypatch):
    """Tests reach the loopback emulator directly, whatever proxy or CA bundle this machine names."""
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
