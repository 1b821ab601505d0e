#!/usr/bin/env python3
"""Stage 05: evaluation (`--help` for its flags). The same as `somclust evaluate`: the stage lives in
somclust/stages/evaluate_run.py; this thin entry point keeps the D2 way, numbered scripts run in order.
"""
from common.cli import run_main
from somclust.stages.evaluate_run import main

if __name__ == "__main__":
    run_main(main)
