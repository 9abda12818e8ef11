"""Shared fixtures for the LRA tests: every test gets its own SEQCONV_CACHE in a temp dir."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_seqconv_cache(tmp_path, monkeypatch):
    """Processed/generated data go to a per-test temp cache, never to ~/.cache/seqconv."""
    cache = tmp_path / "seqconv_cache"
    monkeypatch.setenv("SEQCONV_CACHE", str(cache))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_datasets_cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return cache


@pytest.fixture(scope="session")
def shared_data():
    """The shared real-data folder, or skip when this machine has none."""
    from seqconv.data_paths import shared_data_dir

    try:
        return shared_data_dir()
    except FileNotFoundError as e:
        pytest.skip(str(e))
