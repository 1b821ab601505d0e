"""Thin-stage helpers: a parser whose flags mirror config keys, logging, and clean error exits."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

from config import Config, ConfigError, load_config
from common.errors import SomclustError
from common.native_stderr import chatter_filtered
from common.stage import recorded_inputs

ALWAYS = ("WORK_DIR", "SEED")
LABEL_INPUT_KEYS = ("LABEL_SOURCE", "LABELS_CSV", "FILENAME_LABEL_REGEX", "UNLABELED_DIR")
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


def remembered_inputs(config: Config, given: Mapping[str, Any],
                      logged: Collection[str] | None = None) -> Config:
    """``config`` with the inputs stage 00 last read into its WORK_DIR, so that the commands
    after a run started with ``--raw-dir`` / ``--labels-csv`` (review, export, a re-run) see the
    same images and labels without being told again: RAW_DIR, unless it is ``given`` (a flag or
    the API) or set in the environment, or the default folder exists (the demo's); and, where
    the images are that same folder, each label input (:data:`LABEL_INPUT_KEYS`) not given.
    Those in ``logged`` (default: all; a stage passes the keys it reads) are logged."""
    recorded = recorded_inputs(config.work_dir, ("RAW_DIR", *LABEL_INPUT_KEYS))
    if not recorded.get("RAW_DIR"):
        return config
    current = config.fingerprint(("RAW_DIR", *LABEL_INPUT_KEYS))

    def chosen(key: str) -> bool:
        return key in given or key in os.environ

    remembered = {}
    if not chosen("RAW_DIR") and not Path(config.RAW_DIR).exists():
        remembered["RAW_DIR"] = recorded["RAW_DIR"]
    if remembered.get("RAW_DIR", current["RAW_DIR"]) == recorded["RAW_DIR"]:   # the same images
        remembered.update({key: recorded[key] for key in LABEL_INPUT_KEYS
                           if key in recorded and not chosen(key)})
    remembered = {key: value for key, value in remembered.items() if value != current[key]}
    told = [f"{key}={value}" for key, value in remembered.items()
            if logged is None or key in logged]
    if told:
        LOG.info("%s: as this WORK_DIR's stage 00 last read them (a flag names others)",
                 ", ".join(told))
    return config.with_overrides(remembered) if remembered else config


def parse_config(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None,
                 overrides: Mapping[str, Any] | None = None,
                 remember_inputs: bool = True) -> tuple[argparse.Namespace, Config]:
    """Parse the command line; return the namespace and the validated config.

    ``overrides`` (from the Python API) sit between environment variables and CLI flags.
    ``remember_inputs``: RAW_DIR and the label inputs default to the work folder's own
    (:func:`remembered_inputs`; logged for the keys the parser has flags for, those the stage
    reads).
    """
    args = parser.parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k.isupper() and v is not None}
    overrides = {**(overrides or {}), **flags}
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    for noisy in ("tensorflow", "absl", "h5py", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = load_config(overrides)
    if not remember_inputs:
        return args, config
    return args, remembered_inputs(config, overrides, logged=set(vars(args)))


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
