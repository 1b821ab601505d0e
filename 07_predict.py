#!/usr/bin/env python3
"""Stage 07: new images (`--help` for its flags). The same as `somclust predict`: the stage lives in
somclust/stages/predict.py; this thin entry point keeps the D2 way, numbered scripts run in order.
"""
from common.cli import run_main
from somclust.stages.predict import main

if __name__ == "__main__":
    run_main(main)
