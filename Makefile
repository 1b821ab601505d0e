# somclust: `make demo` installs everything and runs the whole pipeline on the default dataset;
# `python3 -m pytest -q tests` runs the tests (what .ci/run calls).
PYTHON ?= python3
WORK_DIR ?= work
export WORK_DIR

.PHONY: install demo stages test clean

install:
	@if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || \
		echo "could not install dataset-fashion-mnist; set FASHION_MNIST_DIR to the idx files"; fi
	$(PYTHON) -m pip install -q -r requirements.txt

stages:
	$(PYTHON) make_demo_dataset.py
	$(PYTHON) 00_make_labels.py
	$(PYTHON) 01_remove_background.py
	$(PYTHON) 02_finetune.py
	$(PYTHON) 03_extract_features.py
	$(PYTHON) 04_cluster.py
	$(PYTHON) 05_evaluate.py

demo: install
	@start=$$(date +%s); $(MAKE) --no-print-directory stages && \
		echo "demo finished in $$(( $$(date +%s) - start )) s; leaderboard: $(WORK_DIR)/leaderboard.md"

test:
	$(PYTHON) -m pytest -q tests

clean:
	rm -rf $(WORK_DIR)
