"""Shared test set-up: every test runs isolated from the user's environment and never reaches the internet."""

from __future__ import annotations

import pytest

from tests.hub_server import fake_hub  # noqa: F401  (the local Hub fixture, for every test module)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # An unroutable endpoint: a test that forgets the fake Hub fails fast instead of going online.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for var in ("VRAMCALC_FORMATS", "VRAMCALC_DEBUG", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "COLUMNS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", str(tmp_path_factory.mktemp("vramcalc_cache")))
