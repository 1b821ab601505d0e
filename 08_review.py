#!/usr/bin/env python3
"""Stage 08: review the clusters in the browser (`--help` for its flags). The same as `somclust
review`: the stage lives in somclust/stages/review.py; this thin entry point keeps the D2 way,
numbered scripts run in order.
"""
from common.cli import run_main
from somclust.stages.review import main

if __name__ == "__main__":
    run_main(main)
