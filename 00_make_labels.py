#!/usr/bin/env python3
"""Stage 00: true labels (`--help` for its flags). The same as `somclust labels`: the stage lives in
somclust/stages/make_labels.py; this thin entry point keeps the D2 way, numbered scripts run in order.
"""
from common.cli import run_main
from somclust.stages.make_labels import main

if __name__ == "__main__":
    run_main(main)
