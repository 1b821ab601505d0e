#!/usr/bin/env python3
"""Build the default dataset (`--help` for its flags). The same as `somclust demo`: the stage lives in
somclust/stages/demo_dataset.py; this thin entry point keeps the D2 way, numbered scripts run in order.
"""
from common.cli import run_main
from somclust.stages.demo_dataset import main

if __name__ == "__main__":
    run_main(main)
