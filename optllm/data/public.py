"""The paper's public outcome datasets: download, verify, convert to the wide layout, cache.

Why: the real outcome tables are what the paper's results rest on, but they cannot ship
inside the package. `fetch("overruling")` downloads the published files over HTTPS, checks
each one's size and SHA-256 against the table below, converts them to the wide layout of
`optllm.data.tables` and keeps the result in the user's data directory
(`platformdirs.user_data_dir("optllm")/datasets`). Every file is written to a temporary
name beside its target and renamed only once complete and verified, so an interrupted or
corrupted download leaves nothing behind.

The files are in the public repository superyue72/OptLLM at a fixed commit (later commits
removed them). `OPTLLM_DATASETS_URL` (or `base_url=`) points at a mirror holding the same
paths, e.g. `file:///mnt/mirror/` on a machine without network.

Datasets
--------
overruling
    OVERRULING legal classification, 2,160 queries x 12 LLM APIs (FrugalGPT's release),
    already wide: copied as is.
logparsing
    LogPai log parsing, 8 systems x 2,000 log lines x 8 LLMs (the paper's systems). Per
    system, `ai21_<system>_raw.csv` holds j2_mid / j2_ultra and
    `togetherModel_<system>_raw.csv` the six open models; rows join on `LineId`. Converted
    to: `system`, `query` (= Content), `ref_answer` (= EventTemplate), per model m
    `<m>_answer` (its parsed template), `<m>_cost` (USD: (prompt + completion tokens) x list
    price per 1M tokens, early 2024; AI21 reports no completion tokens, so they are
    ceil(characters of its raw output / 4)) and `<m>` (1 when the template equals
    EventTemplate with white space folded).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from platformdirs import user_data_dir

from optllm.data.files import atomic_path, remove_stale, temp_path
from optllm.exceptions import ConfigError, DatasetError, OptLLMError
from optllm.progress import ProgressCallback, report

BASE_URL_ENV = "OPTLLM_DATASETS_URL"
DEFAULT_BASE_URL = ("https://raw.githubusercontent.com/superyue72/OptLLM/"
                    "4f980b59100c19056d55ebc029b3f04255f2f68a/")
_READ_BYTES = 1 << 16
#: Seconds a whole fetch may take (70 MB at 40 KB/s); a server that trickles bytes would
#: otherwise keep it going forever, since each read stays within the socket timeout.
DEFAULT_DEADLINE = 1800.0


class FetchError(OptLLMError, OSError):
    """A public dataset could not be downloaded or failed its checksum; nothing was kept."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its path under the base URL, size in bytes and SHA-256."""

    path: str
    size: int
    sha256: str


def _files(rows: str) -> dict[str, RemoteFile]:
    return {path: RemoteFile(path, int(size), sha)
            for path, size, sha in (line.split() for line in rows.strip().splitlines())}


# From shared/datasets/SOURCES.md: the files the datasets below are built from.
FILES = _files("""
datasets/text_classification/overruling.csv 3666050 427e9908a7125e7e1e3518947ca03ad653fe5f66ffd9574a2046d7096d1c0be2
datasets/log_parsing/ai21_Apache_raw.csv 822002 6ea1758fd38351b5ae39b82bb29f992595b90138bca1a720affa21f831684ec7
datasets/log_parsing/ai21_BGL_raw.csv 1203801 07599d98a043a0cc7a26ae32459a83da19c35549af449e88cf775c4a707d02a4
datasets/log_parsing/ai21_HDFS_raw.csv 2139751 f589854da0cf381ea870e9d76a0cb09ab9e7f0d408556574b09d0271d9744227
datasets/log_parsing/ai21_HPC_raw.csv 673263 ee6260204e75a8e8a7f7be0f2904726937e823f72b6b16522339aaf199c30036
datasets/log_parsing/ai21_Hadoop_raw.csv 1615814 1f422b846f0723efd87a3e9cd02aa777061946519a47c72b42ba62ffc3d55d39
datasets/log_parsing/ai21_HealthApp_raw.csv 1021044 1b2e716ce37e23fd617912ebfaa3655a50a98b8f7198ac11b7bbef2b0b12626f
datasets/log_parsing/ai21_Linux_raw.csv 1688671 f5dab79d435c4685c962146015c981d086f7062f6d29f8d6f83303d56ac033ec
datasets/log_parsing/ai21_Mac_raw.csv 2327403 0c168c7d8292d1ad84b5cffb1cbc512659e7a7272af7ae34a412634bcd6cb031
datasets/log_parsing/togetherModel_Apache_raw.csv 1334082 6487cad0498acb467d0d0bc24363618d384de8f1985b24c96826ccd0aad9855b
datasets/log_parsing/togetherModel_BGL_raw.csv 1754695 0eb4f64c13931a88729001b63d630ebeadc8c4bfa1e823e033510d85f7d6a7e4
datasets/log_parsing/togetherModel_HDFS_raw.csv 1819705 588fb59b988701db52d6b8f1a1365a86373193401e147fbc3ca5d77ca9b564a7
datasets/log_parsing/togetherModel_HPC_raw.csv 1392358 8ffe3252acfec8150f6ade0dd54f906eb0a981a59a1b57bb812df27c4aec1887
datasets/log_parsing/togetherModel_Hadoop_raw.csv 2435587 0fd3bbfebad044d1db5d90b4deab4f0ce22e692d4cfa8eb2e711dd2ed624e6e8
datasets/log_parsing/togetherModel_HealthApp_raw.csv 1321455 59710e5b99db1d299c154c992c7e640baaea1f104dc400777a40abaf25c39e32
datasets/log_parsing/togetherModel_Linux_raw.csv 1666987 8cdb0cd66ce6aa70d60a14fda44168008e84d1cd1767d57bae3b7e5047aad05c
datasets/log_parsing/togetherModel_Mac_raw.csv 2692212 6ad1c6c825d52f8f3c12e62d0b16074e3e374f3c114ef7cfa8d2e6c28dd95f7d
""")  # noqa: E501 (one file per line: path, bytes, sha256)

LOG_SYSTEMS = ("Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac")
# Output name -> USD per 1M tokens (prompt and completion alike), early 2024.
AI21_PRICES = {"j2_mid": 10.0, "j2_ultra": 15.0}
# Output name -> (column prefix in the raw file, USD per 1M tokens).
TOGETHER_MODELS = {
    "Mixtral_8x7B": ("Nous_Mixtral", 0.6),
    "llama2_7b": ("Nous_llama7b", 0.2),
    "llama2_13b": ("Nous_llama13b", 0.225),
    "llama2_70b": ("Nous_llama70b", 0.9),
    "Yi_34B": ("Yi_34B", 0.8),
    "Yi_6B": ("Yi_6B", 0.2),
}


@dataclass(frozen=True)
class PublicDataset:
    """A dataset built from published files by `convert` (local paths, in `files` order)."""

    name: str
    description: str
    files: tuple[RemoteFile, ...]
    convert: Callable[[Sequence[Path], Path], None]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def copy_wide(raw: Sequence[Path], target: Path) -> None:
    """A file already in the wide layout, copied as is."""
    shutil.copyfile(raw[0], target)


def _fold(values: pd.Series) -> pa.Array:
    """Text with every run of white space made one space and the ends trimmed (null: "")."""
    text = pa.array(values.fillna("").astype(str).to_numpy(dtype=object), type=pa.string())
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))


def _read_raw(path: Path, columns: Sequence[str], counts: Sequence[str]) -> pd.DataFrame:
    """A raw output file's `columns` (text) and `counts` (whole numbers), checked."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                            encoding="utf-8")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: cannot read the raw file ({exc})") from None
    missing = [c for c in (*columns, *counts) if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
    for column in counts:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            row = int(np.argmax(bad))
            raise DatasetError(f"{path}: row {row + 1}, column {column!r}: token count "
                               f"{frame[column].iloc[row]!r} is not a non-negative number")
        frame[column] = values
    return frame


def log_parsing_frame(system: str, ai21_path: Path, together_path: Path) -> pd.DataFrame:
    """One system's rows of the wide log-parsing table (see the module docstring)."""
    ai21 = _read_raw(ai21_path, ["LineId", "Content", "EventTemplate",
                                 *(f"{m}_{kind}" for m in AI21_PRICES
                                   for kind in ("output", "template"))], ["token_num"])
    prefixes = [prefix for prefix, _ in TOGETHER_MODELS.values()]
    together = _read_raw(together_path, ["LineId", *(f"{p}_template" for p in prefixes)],
                         [f"{p}_{kind}" for p in prefixes
                          for kind in ("prompt_token_num", "completion_tokens_num")])
    if not ai21["LineId"].equals(together["LineId"]):
        raise DatasetError(f"{together_path}: its LineId column differs from {ai21_path}'s; "
                           "the two files must list the same log lines in the same order")
    truth = _fold(ai21["EventTemplate"])
    answers, costs, labels = {}, {}, {}
    for model, price in AI21_PRICES.items():
        chars = pc.utf8_length(pa.array(ai21[f"{model}_output"].fillna("").to_numpy(object),
                                        type=pa.string())).to_numpy().astype(np.float64)
        tokens = ai21["token_num"].to_numpy() + np.ceil(chars / 4)
        answers[model], costs[model] = ai21[f"{model}_template"], tokens * price / 1e6
        labels[model] = pc.equal(_fold(ai21[f"{model}_template"]), truth)
    for model, (prefix, price) in TOGETHER_MODELS.items():
        tokens = (together[f"{prefix}_prompt_token_num"].to_numpy()
                  + together[f"{prefix}_completion_tokens_num"].to_numpy())
        answers[model], costs[model] = together[f"{prefix}_template"], tokens * price / 1e6
        labels[model] = pc.equal(_fold(together[f"{prefix}_template"]), truth)
    models = [*AI21_PRICES, *TOGETHER_MODELS]
    return pd.concat([
        pd.DataFrame({"system": system, "query": ai21["Content"],
                      "ref_answer": ai21["EventTemplate"]}),
        pd.DataFrame({f"{m}_answer": answers[m].fillna("").to_numpy() for m in models}),
        pd.DataFrame({f"{m}_cost": costs[m] for m in models}),
        pd.DataFrame({m: labels[m].to_numpy(zero_copy_only=False).astype(np.int8)
                      for m in models}),
    ], axis=1)


def convert_log_parsing(raw: Sequence[Path], target: Path) -> None:
    """`raw` is every system's ai21 file, then every system's together file (same order)."""
    half = len(raw) // 2
    systems = [Path(p).name.removeprefix("ai21_").removesuffix("_raw.csv") for p in raw[:half]]
    frames = [log_parsing_frame(s, a, t)
              for s, a, t in zip(systems, raw[:half], raw[half:], strict=True)]
    pd.concat(frames, ignore_index=True).to_csv(target, index=False)


DATASETS: dict[str, PublicDataset] = {
    "overruling": PublicDataset(
        "overruling", "OVERRULING legal classification: 2,160 queries x 12 LLM APIs",
        (FILES["datasets/text_classification/overruling.csv"],), copy_wide),
    "logparsing": PublicDataset(
        "logparsing", "LogPai log parsing: 8 systems x 2,000 lines x 8 LLMs",
        tuple(FILES[f"datasets/log_parsing/{vendor}_{s}_raw.csv"]
              for vendor in ("ai21", "togetherModel") for s in LOG_SYSTEMS),
        convert_log_parsing),
}


def data_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """Where fetched datasets live: `directory`, else the user's data directory."""
    return Path(directory) if directory is not None else (
        Path(user_data_dir("optllm")) / "datasets")


def base_url(url: str | None = None) -> str:
    """The mirror to download from: `url`, else $OPTLLM_DATASETS_URL, else the original."""
    chosen = url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return chosen if chosen.endswith("/") else chosen + "/"


def dataset_path(name: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """The converted wide CSV of a fetched dataset (it may not exist yet)."""
    return data_dir(directory) / f"{name}.csv"


def _lookup(name: str) -> PublicDataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown public dataset {name!r}; choose one of "
                           f"{', '.join(DATASETS)}") from None


def _verified(path: Path, remote: RemoteFile) -> bool:
    """Whether a cached raw file is complete and intact."""
    if not path.is_file() or path.stat().st_size != remote.size:
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == remote.sha256


def writable_folder(folder: Path) -> None:
    """Create `folder` (and its parents) or raise FetchError saying why it cannot hold data."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot use {folder} as a data folder: "
                         f"{exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FetchError(f"cannot use {folder} as a data folder: it is not writable")


def download(url: str, target: Path, remote: RemoteFile, *, timeout: float = 60.0,
             deadline: float | None = None, progress: ProgressCallback | None = None,
             done: int = 0, total: int = 0) -> None:
    """Stream `url` into a temporary file beside `target`, check size and SHA-256, then
    rename it into place; on any failure the temporary file is removed and FetchError
    raised. `deadline` (a `time.monotonic()` instant) ends a download that is still going;
    each read waits at most `timeout` seconds."""
    writable_folder(target.parent)
    digest, size = hashlib.sha256(), 0
    remove_stale(target.parent)
    tmp = temp_path(target, "part")
    try:
        with open(tmp, "xb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            # read1: one read of what has arrived, so a trickle cannot hold a call past the
            # deadline (read(n) waits for all n bytes).
            read = getattr(response, "read1", response.read)
            for block in iter(lambda: read(_READ_BYTES), b""):
                if deadline is not None and time.monotonic() > deadline:
                    raise FetchError(f"{url}: the download took longer than its deadline "
                                     f"and was stopped after {size:,} of {remote.size:,} bytes; "
                                     "try again later or use a mirror")
                size += len(block)
                if size > remote.size:
                    break
                digest.update(block)
                out.write(block)
                report(progress, "download", done + size, total, remote.path.rsplit("/", 1)[-1])
        if size != remote.size or digest.hexdigest() != remote.sha256:
            got = f"{size} bytes" if size != remote.size else f"sha256 {digest.hexdigest()}"
            raise FetchError(f"{url}: the download failed its check ({got}; expected "
                             f"{remote.size} bytes with sha256 {remote.sha256}); it was "
                             "discarded. Try again, or check the mirror")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, FetchError):
            raise
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise FetchError(f"cannot download {url}: {reason}. Without network, copy the files "
                         f"to a mirror directory and set {BASE_URL_ENV}=file:///that/dir/ "
                         "(same paths as under the original URL)") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fetch_dataset(dataset: PublicDataset, *, directory: str | os.PathLike[str] | None = None,
                  url: str | None = None, force: bool = False, timeout: float = 60.0,
                  deadline: float = DEFAULT_DEADLINE,
                  progress: ProgressCallback | None = None) -> Path:
    """Download (unless already cached and intact), verify and convert `dataset`; returns
    the wide CSV. `force` downloads and converts again. The downloads stop with FetchError
    after `deadline` seconds in all; each read waits at most `timeout` seconds."""
    if not 0 < deadline < math.inf or not 0 < timeout < math.inf:
        raise ConfigError(f"deadline and timeout must be positive seconds; got {deadline} "
                          f"and {timeout}")
    root = data_dir(directory)
    target = root / f"{dataset.name}.csv"
    if target.is_file() and not force:
        return target
    writable_folder(root)
    ends = time.monotonic() + deadline
    raw, done = [], 0
    for remote in dataset.files:
        path = root / "raw" / remote.path
        if force or not _verified(path, remote):
            download(base_url(url) + remote.path, path, remote, timeout=timeout, deadline=ends,
                     progress=progress, done=done, total=dataset.size)
        done += remote.size
        raw.append(path)
    report(progress, "convert", 0, 1, dataset.name)
    with atomic_path(target, force=True) as tmp:
        dataset.convert(raw, tmp)
    report(progress, "convert", 1, 1, dataset.name)
    return target


def fetch(name: str, *, directory: str | os.PathLike[str] | None = None, url: str | None = None,
          force: bool = False, timeout: float = 60.0, deadline: float = DEFAULT_DEADLINE,
          progress: ProgressCallback | None = None) -> Path:
    """`fetch_dataset` of the public dataset called `name` (see `DATASETS`)."""
    return fetch_dataset(_lookup(name), directory=directory, url=url, force=force,
                         timeout=timeout, deadline=deadline, progress=progress)


def list_datasets(directory: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """One row per public dataset: name, description, files, download size, cached path."""
    return pd.DataFrame({
        "name": list(DATASETS),
        "description": [d.description for d in DATASETS.values()],
        "files": [len(d.files) for d in DATASETS.values()],
        "megabytes": [round(d.size / 1e6, 1) for d in DATASETS.values()],
        "path": [str(dataset_path(n, directory)) for n in DATASETS],
        "fetched": [dataset_path(n, directory).is_file() for n in DATASETS],
    })
