#!/usr/bin/env python3
"""Stage 02: fine-tuning (`--help` for its flags). The same as `somclust finetune`: the stage lives in
somclust/stages/fine_tune.py; this thin entry point keeps the D2 way, numbered scripts run in order.
"""
from common.cli import run_main
from somclust.stages.fine_tune import main

if __name__ == "__main__":
    run_main(main)
