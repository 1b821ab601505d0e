#!/usr/bin/env python3
"""Stage 06: report (`--help` for its flags). The same as `somclust report`: the stage lives in
somclust/stages/report.py; this thin entry point keeps the D2 way, numbered scripts run in order.
"""
from common.cli import run_main
from somclust.stages.report import main

if __name__ == "__main__":
    run_main(main)
