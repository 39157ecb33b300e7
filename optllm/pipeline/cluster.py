"""The Dask side of the distributed engine: which files are the partitions, which cluster
runs them, and waiting for a round of tasks with progress and cancel.

Dask (an existing engine with a local mode and a real scheduler) runs the per-partition work;
`optllm.pipeline.distributed` says what the work is. Without a scheduler address a
`LocalCluster` of one single-threaded worker process per core, with the machine's memory
shared among them, runs the same code: past their memory limit the workers spill to disk, so
a batch larger than memory goes through the same command.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from optllm.data.tables import stem
from optllm.exceptions import ConfigError, DatasetError
from optllm.progress import ProgressCallback, ShouldStop, check_cancelled, report

if TYPE_CHECKING:
    from distributed import Client, Future

#: Seconds between two progress reports while no partition finishes.
REPORT_EVERY = 1.0
#: Share of the machine's memory a local cluster's workers may hold together.
MEMORY_SHARE = 0.8
_GLOB_CHARS = "*?["


def partitions(spec: str | os.PathLike[str]) -> list[Path]:
    """The partition files of QUERIES: the `*.parquet` files of a folder, the files a glob
    matches, or one file; sorted by name, which is the order of their rows."""
    text = os.fspath(spec)
    path = Path(text)
    if path.is_dir():
        found = sorted(path.glob("*.parquet"))
        if not found:
            raise DatasetError(f"{path}: no .parquet files in this folder")
        return found
    if any(c in text for c in _GLOB_CHARS) and not path.exists():
        found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not found:
            raise DatasetError(f"{text}: no file matches this pattern")
        return found
    if not path.is_file():
        raise DatasetError(f"{path}: no such file or folder")
    return [path]


def output_names(parts: Sequence[Path]) -> list[str]:
    """One Parquet output name per input partition (its name, ending in .parquet); two
    partitions with one name (a glob across folders) are refused."""
    names = [f"{stem(p)}.parquet" for p in parts]
    seen: dict[str, Path] = {}
    for name, part in zip(names, parts, strict=True):
        if name in seen:
            raise ConfigError(f"{seen[name]} and {part} would both be written as {name}; "
                              "give partitions distinct names")
        seen[name] = part
    return names


def require_dask() -> None:
    """Raise ConfigError saying how to install Dask when it is missing."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("--engine dask needs Dask: pip install 'optllm[dask]'") from None


def local_cluster_size() -> tuple[int, int]:
    """Workers (one per usable core) and each one's memory limit in bytes."""
    import psutil

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return cores, int(psutil.virtual_memory().total * MEMORY_SHARE / cores)


@contextlib.contextmanager
def connect(scheduler: str | None = None, *, n_workers: int | None = None,
            memory_limit: int | None = None, processes: bool = True) -> Iterator[Client]:
    """A client of the scheduler at `scheduler`, or of a new local cluster sized to the
    machine (`local_cluster_size`, or the given workers and bytes each), closed on exit:
    closing a local cluster stops its workers, so nothing of a cancelled run keeps going."""
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    cores, memory = local_cluster_size()
    cluster = LocalCluster(n_workers=n_workers or cores, threads_per_worker=1,
                           processes=processes, memory_limit=memory_limit or memory,
                           dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client


def wait_for(client: Client, futures: Sequence[Future], stage: str, *,
             progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None
             ) -> None:
    """Wait for one round of partition tasks, reporting partitions done at least once a
    second. The first task to fail raises its error (a `DatasetError` naming its file); an
    error, a stop or Ctrl+C cancels the round's futures first."""
    total = len(futures)
    try:
        shown, next_report = -1, 0.0
        while True:
            done = sum(f.done() for f in futures)  # before the errors: none slips through
            failed = next((f for f in futures if f.status in ("error", "cancelled")), None)
            if failed is not None:
                failed.result()
            now = time.monotonic()
            if done != shown or now >= next_report:
                report(progress, stage, done, total, f"{done}/{total} partitions")
                shown, next_report = done, now + REPORT_EVERY
            if done == total:
                return
            check_cancelled(should_stop, stage)
            time.sleep(0.05)
    except BaseException:
        client.cancel(list(futures))
        raise


def gathered(client: Client, futures: Sequence[Future], stage: str, *,
             progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None
             ) -> list:
    """`wait_for` the round, then its (small) results in partition order."""
    wait_for(client, futures, stage, progress=progress, should_stop=should_stop)
    return list(client.gather(list(futures)))
