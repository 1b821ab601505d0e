# somclust: `make demo` installs everything (into the project's own .venv, with the `somclust`
# command) and runs the whole pipeline on the default dataset; `make test` installs and runs the
# tests (what .ci/run calls).
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
WORK_DIR ?= work
export WORK_DIR

.PHONY: install test-deps suite-deps demo stages cluster model-stages test clean

install:
	@if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || \
		echo "could not install dataset-fashion-mnist; set FASHION_MNIST_DIR to the idx files"; fi
	@if [ "$(PYTHON)" = "$(VENV)/bin/python" ] && [ ! -x $(VENV)/bin/python ]; then python3 -m venv $(VENV); fi
	$(PYTHON) -m pip install -q --disable-pip-version-check -e ".[test]"

# A headless browser for the HTML report test (Debian packages; Selenium comes with requirements.txt).
test-deps:
	@if ! command -v chromedriver >/dev/null && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver) || \
		echo "could not install chromium + chromium-driver; the browser test will be skipped"; fi

# The image sets of benchmarks/quality_suite.py (Debian fonts and icon themes).
suite-deps: install
	@if command -v apt-get >/dev/null; then (apt-get update -qq && apt-get install -y -qq \
		fonts-urw-base35 fonts-dejavu-core fonts-liberation2 fonts-freefont-ttf fonts-noto-core \
		oxygen-icon-theme gnome-icon-theme) || echo "could not install the suite's packages"; fi

# The demo runs every stage with the defaults (EfficientNet-Lite0, ImageNet weights); another
# network: `make model-stages BACKBONE=inception_v3 WEIGHTS=imagenet` (its rows join the leaderboard).
BACKBONE ?= efficientnet_lite0
WEIGHTS ?= imagenet

stages:
	$(PYTHON) make_demo_dataset.py
	$(MAKE) --no-print-directory cluster

# Your own images: `make cluster RAW_DIR=/path/to/photos` (the demo builder does not run).
ifdef RAW_DIR
export RAW_DIR
endif
cluster:
	$(PYTHON) 00_make_labels.py
	$(PYTHON) 01_remove_background.py
	$(MAKE) --no-print-directory model-stages

model-stages:
	$(PYTHON) 02_finetune.py --backbone $(BACKBONE) --weights $(WEIGHTS)
	$(PYTHON) 03_extract_features.py --backbone $(BACKBONE) --weights $(WEIGHTS)
	$(PYTHON) 04_cluster.py --backbone $(BACKBONE)
	$(PYTHON) 05_evaluate.py --backbone $(BACKBONE) --weights $(WEIGHTS)
	$(PYTHON) 06_report.py --backbone $(BACKBONE)

demo: install
	@start=$$(date +%s); $(MAKE) --no-print-directory stages && \
		echo "demo finished in $$(( $$(date +%s) - start )) s; leaderboard: $(WORK_DIR)/leaderboard.md"

test: install test-deps
	$(PYTHON) -m pytest -q tests

clean:
	rm -rf $(WORK_DIR)
