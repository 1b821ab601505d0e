"""The ``somclust`` command: ``somclust run`` runs every stage in order, ``somclust <stage>`` one.

Each subcommand takes the flags of its numbered script (``somclust cluster --som-rows 8`` is
``python 04_cluster.py --som-rows 8``); both call the same function in :mod:`somclust.stages`.
"""
from __future__ import annotations

import sys
from typing import Sequence

from common.cli import (LABEL_INPUT_KEYS, parse_config, remembered_inputs, run_main,
                        stage_parser)
from common.errors import SomclustError
from somclust.stages import ALL, DEMO, PIPELINE, find_stage

RUN_DOC = """Run every stage in order (labels, background, finetune, extract, cluster, evaluate,
report); each one that already finished with the same settings is skipped. --demo builds the
default dataset into RAW_DIR first."""
FLAG_NOTE = ("Every flag overrides the config.py key of the same name; an environment variable "
             "of that name does too.")


def overview() -> str:
    """``somclust --help``: the commands, in the order the stages run, one line each."""
    lines = ["usage: somclust COMMAND [flags]    (somclust COMMAND --help: its flags)", "",
             "Cluster a folder of images with a Self-Organizing Map; the number of clusters is "
             "predicted.", "",
             f"  {'run':<11}     every stage below from labels to report, in order "
             "(--demo: build the demo dataset first)"]
    for stage in ALL:
        number = stage.script[:2] if stage.script[:2].isdigit() else "  "
        lines.append(f"  {stage.command:<11} {number}  {stage.summary}")
    return "\n".join([*lines, "", FLAG_NOTE])


def run_keys() -> tuple[str, ...]:
    """The config keys any stage of the pipeline (and the demo builder) reads, in stage order."""
    keys: dict[str, None] = {}
    for stage in (DEMO, *PIPELINE):
        module = stage.load()
        keys.update(dict.fromkeys((*module.KEYS, *getattr(module, "EXECUTION_KEYS", ()))))
    return tuple(keys)


def run_all(argv: Sequence[str], prog: str = "somclust run") -> int:
    """``somclust run``: every stage with the same overrides; stops at the first failure."""
    parser = stage_parser(RUN_DOC, run_keys(), prog)
    parser.add_argument("--demo", action="store_true",
                        help="build the default dataset into RAW_DIR first (make_demo_dataset.py)")
    args, config = parse_config(parser, argv, remember_inputs=False)  # validates the overrides
    overrides = {k: v for k, v in vars(args).items() if k.isupper() and v is not None}
    if not args.demo:               # the demo is built into RAW_DIR: no folder of an earlier run
        config = remembered_inputs(config, overrides)
    overrides["RAW_DIR"] = config.RAW_DIR           # every stage reads the same inputs
    overrides.update({key: config.values[key] for key in LABEL_INPUT_KEYS})
    flags = [*(["--force"] if args.force else []), *(["--verbose"] if args.verbose else [])]
    for stage in ((DEMO,) if args.demo else ()) + PIPELINE:
        print(f"== somclust {stage.command} ({stage.script}.py)", flush=True)
        code = stage.load().main(flags, overrides, f"somclust {stage.command}")
        if code:
            return code
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``somclust COMMAND ...``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(overview())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        return run_all(rest)
    try:
        stage = find_stage(command)
    except ValueError:
        raise SomclustError(f"unknown command {command!r}; `somclust --help` lists the "
                            "commands") from None
    return stage.load().main(rest, None, f"somclust {stage.command}")


def console_main() -> None:
    """Entry point of the installed ``somclust`` command (clean one-line errors, exit codes)."""
    run_main(main)
