"""TensorFlow's start-up chatter is kept off a stage's stderr; everything else passes."""
from __future__ import annotations

import subprocess
import sys

from helpers import ROOT

CHATTY = (b"WARNING: All log messages before absl::InitializeLog() is called are written to "
          b"STDERR\nI0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You may see "
          b"slightly different numerical results.\n")


def test_filter_drops_chatter_lines_and_forwards_the_rest_at_once():
    from common.native_stderr import filter_chatter

    out, held = filter_chatter(b"", CHATTY + b"skipped x.png: empty file\nprogress 10%\r")
    assert out == b"skipped x.png: empty file\nprogress 10%\r" and held == b""
    out, held = filter_chatter(b"", b"I0000 00:00:1.0 1 port.cc:153] oneDNN cus")   # unfinished
    assert out == b"" and held.startswith(b"I0000")
    out, held = filter_chatter(held, b"tom operations are on.\nnext\n")
    assert out == b"next\n" and held == b""


def test_a_process_writing_to_descriptor_2_keeps_only_its_own_lines():
    code = ("import os, sys\n"
            "from common.native_stderr import chatter_filtered\n"
            f"with chatter_filtered(enabled=sys.argv[1] == '1'):\n"
            f"    os.write(2, {CHATTY!r})\n"
            "    print('a line of ours', file=sys.stderr)\n"
            "    os.write(2, b'tail without newline')\n")
    quiet = subprocess.run([sys.executable, "-c", code, "1"], cwd=ROOT, capture_output=True,
                           timeout=60)
    assert quiet.stderr == b"a line of ours\ntail without newline"
    loud = subprocess.run([sys.executable, "-c", code, "0"], cwd=ROOT, capture_output=True,
                          timeout=60)
    assert b"oneDNN" in loud.stderr and b"a line of ours" in loud.stderr
