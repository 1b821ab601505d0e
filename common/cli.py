"""Thin-stage helpers: a parser whose flags mirror config keys, logging, and clean error exits."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from config import Config, ConfigError, load_config
from common.errors import SomclustError
from common.native_stderr import chatter_filtered
from common.stage import recorded_raw_dir

ALWAYS = ("WORK_DIR", "SEED")
LOG = logging.getLogger("somclust")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out


def flag_name(key: str) -> str:
    """``SOM_ROWS`` -> ``--som-rows``."""
    return "--" + key.lower().replace("_", "-")


def stage_parser(description: str, keys: Sequence[str],
                 prog: str | None = None) -> argparse.ArgumentParser:
    """A parser with ``--force``, ``--verbose`` and one flag per config key in ``keys``
    (``prog``: the command name shown in usage lines, e.g. ``somclust cluster``)."""
    defaults = Config()
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Every flag overrides the config.py key of the same "
                                            "name; an environment variable of that name does too.")
    for key in dict.fromkeys((*ALWAYS, *keys)):
        default = defaults.values[key]
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        flags = (flag_name(key), "--ray") if key == "RAY_ADDRESS" else (flag_name(key),)
        parser.add_argument(*flags, dest=key, default=None, metavar=key,
                            help=f"config {key} (default: {shown})")
    parser.add_argument("--force", action="store_true", help="redo the stage even if it finished")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    return parser


def remembered_raw_dir(config: Config, given: Mapping[str, Any]) -> Config:
    """``config`` with RAW_DIR the folder stage 00 last read into its WORK_DIR, unless RAW_DIR
    is ``given`` (a flag or the API) or set in the environment, or the default folder exists
    (the demo's): the commands after a run started with ``--raw-dir`` (review, export, a stage
    re-run) find its images without being told again."""
    if "RAW_DIR" in given or "RAW_DIR" in os.environ or Path(config.RAW_DIR).exists():
        return config
    recorded = recorded_raw_dir(config.work_dir)
    if not recorded or recorded == config.fingerprint(("RAW_DIR",))["RAW_DIR"]:
        return config
    LOG.info("RAW_DIR=%s: the folder this WORK_DIR's images are from (--raw-dir names another)",
             recorded)
    return config.with_overrides({"RAW_DIR": recorded})


def parse_config(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None,
                 overrides: Mapping[str, Any] | None = None,
                 remember_raw_dir: bool = True) -> tuple[argparse.Namespace, Config]:
    """Parse the command line; return the namespace and the validated config.

    ``overrides`` (from the Python API) sit between environment variables and CLI flags.
    ``remember_raw_dir``: RAW_DIR defaults to the work folder's own (:func:`remembered_raw_dir`).
    """
    args = parser.parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k.isupper() and v is not None}
    overrides = {**(overrides or {}), **flags}
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    for noisy in ("tensorflow", "absl", "h5py", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = load_config(overrides)
    return args, remembered_raw_dir(config, overrides) if remember_raw_dir else config


def run_main(main: Callable[[Sequence[str] | None], int]) -> None:
    """Run a stage's ``main``; user errors print one line and exit 2, Ctrl-C exits 130, a
    closed output pipe 141.
    TensorFlow's start-up chatter is kept off stderr unless ``--verbose``."""
    verbose = any(arg in ("-v", "--verbose") for arg in sys.argv[1:])
    with chatter_filtered(enabled=not verbose):
        try:
            code = main(None)
        except (SomclustError, ConfigError) as error:
            print(f"error: {error}", file=sys.stderr)
            code = 2
        except KeyboardInterrupt:
            print("interrupted; re-run the same command to resume", file=sys.stderr)
            code = 130
        except BrokenPipeError:     # output piped into a reader that stopped (`| head`)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 141
    sys.exit(code)
