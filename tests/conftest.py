"""Shared fixtures: the repository root on sys.path and small synthetic data."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def blobs():
    """Six well separated Gaussian blobs in 16 dimensions: (X, y)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=8.0, size=(6, 16))
    y = np.repeat(np.arange(6), 80)
    X = centers[y] + rng.normal(size=(len(y), 16))
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Every stage script, in order, on a tiny demo dataset (shared by the tests that read it;
    a test that changes its outputs restores them): stdout in ``outputs``, the logs in ``logs``."""
    from helpers import FASHION, STAGES, run_script, tree_hash

    if not FASHION.exists():
        pytest.skip("needs the apt package dataset-fashion-mnist (make install)")
    work = tmp_path_factory.mktemp("tiny") / "work"
    run_script(STAGES[0], work)
    raw_hash = tree_hash(work / "raw_img")
    results = {script: run_script(script, work) for script in STAGES[1:]}
    return SimpleNamespace(work=work, run_dir=work / "efficientnet_lite0", raw_hash=raw_hash,
                           outputs={script: result.stdout for script, result in results.items()},
                           logs={script: result.stderr for script, result in results.items()})


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Selenium (skipped without them, except under CI=true)."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        selenium_missing = True
    else:
        selenium_missing = False
    if selenium_missing or not (chromium and chromedriver):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must test the HTML pages in a browser: run `make test-deps` "
                        "(apt chromium chromium-driver, pip selenium)")
        pytest.skip("needs chromium, chromium-driver and selenium: `make test-deps`")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()
