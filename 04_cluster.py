#!/usr/bin/env python3
"""Stage 04: SOM clustering (`--help` for its flags). The same as `somclust cluster`: the stage lives in
somclust/stages/cluster_features.py; this thin entry point keeps the D2 way, numbered scripts run in order.
"""
from common.cli import run_main
from somclust.stages.cluster_features import main

if __name__ == "__main__":
    run_main(main)
