#!/usr/bin/env python3
"""Stage 01: background removal (`--help` for its flags). The same as `somclust background`: the stage lives in
somclust/stages/remove_background.py; this thin entry point keeps the D2 way, numbered scripts run in order.
"""
from common.cli import run_main
from somclust.stages.remove_background import main

if __name__ == "__main__":
    run_main(main)
