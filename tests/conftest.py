"""Shared fixtures: the repository root on sys.path and small synthetic data."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def blobs():
    """Six well separated Gaussian blobs in 16 dimensions: (X, y)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=8.0, size=(6, 16))
    y = np.repeat(np.arange(6), 80)
    X = centers[y] + rng.normal(size=(len(y), 16))
    return X.astype(np.float32), y
