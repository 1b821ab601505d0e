"""Mapping a function over tasks in order: in this process, a process pool, or a Ray cluster."""
from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from common.errors import SomclustError

LOG = logging.getLogger("somclust")
Task = TypeVar("Task")
Handle = TypeVar("Handle")
ROOT = Path(__file__).resolve().parents[1]


def connect_ray(address: str, workers: int = 0):
    """The ``ray`` module, connected: 'local' starts a local instance, anything else is the
    address of a running cluster (``ray start --head`` prints it)."""
    try:
        import ray
    except ImportError:
        raise SomclustError("RAY_ADDRESS is set but Ray is not installed: pip install ray") from None
    if ray.is_initialized():
        return ray
    options = dict(ignore_reinit_error=True, log_to_driver=False, include_dashboard=False,
                   runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    try:
        if address == "local":
            ray.init(num_cpus=workers or None, **options)
        else:
            ray.init(address=address, **options)
    except Exception as error:  # noqa: BLE001 - any connection failure means the same to the user
        raise SomclustError(f"RAY_ADDRESS={address}: cannot connect to Ray ({error}); give the "
                            "address `ray start --head` printed, 'local', or leave it empty") from None
    LOG.info("Ray: %s CPUs available", ray.cluster_resources().get("CPU", "?"))
    return ray


@contextmanager
def ordered_map(function: Callable[[Any], Any], tasks: Sequence[Any], workers: int,
                ray_address: str = "") -> Iterator[Iterator[Any]]:
    """Yield an iterator of ``function(task)`` in task order, computed here (workers == 1), in a
    process pool, or as Ray tasks when ``ray_address`` is set. ``function`` must be importable
    (module level) and the paths in ``tasks`` visible wherever it runs."""
    if ray_address:
        ray = connect_ray(ray_address, workers)
        remote = ray.remote(function)
        references = [remote.remote(task) for task in tasks]
        yield (ray.get(reference) for reference in references)
    elif workers == 1:
        yield map(function, tasks)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield pool.map(function, tasks)


def submitted_ahead(tasks: Iterable[Task], submit: Callable[[Task], Handle],
                    depth: int) -> Iterator[Handle]:
    """Yield ``submit(task)``'s handles (futures, Ray references) in task order, keeping up to
    ``depth`` tasks submitted ahead of the one the caller waits on."""
    upcoming = iter(tasks)
    pending = deque(submit(task) for task in islice(upcoming, depth))
    while pending:
        handle = pending.popleft()
        for task in islice(upcoming, 1):
            pending.append(submit(task))
        yield handle
