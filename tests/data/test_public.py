"""Public datasets: download from a local HTTP server, checksum checks that leave nothing
behind, the no-network message, and the log-parsing converter on small raw files written
here in the published format."""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import math
import socket
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optllm.cli import datasets as datasets_command
from optllm.cli import main as cli
from optllm.cli import run as run_command
from optllm.data.public import (
    BASE_URL_ENV,
    DATASETS,
    DEFAULT_BASE_URL,
    FetchError,
    PublicDataset,
    RemoteFile,
    base_url,
    convert_log_parsing,
    copy_wide,
    fetch,
    fetch_dataset,
    list_datasets,
)
from optllm.data.tables import load_dataset
from optllm.exceptions import ConfigError, DatasetError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

AI21_HEADER = ("LineId,Time,Level,Content,EventId,EventTemplate,token_num,j2_mid_output,"
               "j2_ultra_output,j2_mid_template,j2_ultra_template")
TOGETHER_PREFIXES = ("Nous_Mixtral", "Nous_llama7b", "Nous_llama13b", "Nous_llama70b", "Yi_34B",
                     "Yi_6B")
TOGETHER_HEADER = ",".join(
    ["LineId", "Time", "Level", "Content", "EventId", "EventTemplate"]
    + [f"{p}_{kind}" for p in TOGETHER_PREFIXES
       for kind in ("output", "prompt_token_num", "completion_tokens_num")]
    + [f"{p}_template" for p in TOGETHER_PREFIXES])


def csv_line(cells: list[str]) -> str:
    """Cells joined as in the published files: quoted when they hold a comma or a newline."""
    return ",".join(f'"{c}"' if ("," in c or "\n" in c) else c for c in cells)


def ai21_file(rows: list[tuple[str, str, int, str, str, str, str]]) -> str:
    """Rows of (content, true template, prompt tokens, mid output, ultra output, mid
    template, ultra template), quoted as the published files are."""
    lines = [AI21_HEADER]
    for i, (content, truth, tokens, *outputs) in enumerate(rows, start=1):
        cells = [str(i), "Mon Jan 01 00:00:00 2024", "notice", content, f"E{i}", truth,
                 str(tokens), *outputs]
        lines.append(csv_line(cells))
    return "\n".join(lines) + "\n"


def together_file(rows: list[tuple[str, str, list[tuple[str, int, int]]]]) -> str:
    """Rows of (content, true template, per model (template, prompt, completion tokens))."""
    lines = [TOGETHER_HEADER]
    for i, (content, truth, models) in enumerate(rows, start=1):
        cells = [str(i), "Mon Jan 01 00:00:00 2024", "notice", content, f"E{i}", truth]
        for template, prompt, completion in models:
            cells += [f"raw {template}", str(prompt), str(completion)]
        cells += [template for template, _, _ in models]
        lines.append(csv_line(cells))
    return "\n".join(lines) + "\n"


RIGHT = "user <*> logged in"
CONTENT = "user alice logged in"


def log_parsing_fixture(root: Path) -> list[Path]:
    """Two systems of two log lines each, raw files under root/datasets/log_parsing/."""
    folder = root / "datasets" / "log_parsing"
    folder.mkdir(parents=True)
    six = [(RIGHT, 100, 10), ("user  <*>\n logged in ", 101, 12), ("user <*>", 99, 5),
           (RIGHT, 100, 10), ("<*>", 98, 3), (RIGHT, 102, 11)]
    files = {
        "ai21_Sys1_raw.csv": ai21_file([
            (CONTENT, RIGHT, 90, "user {name} logged in", "user {name}", RIGHT, "user <*>"),
            ("disk, full", "disk, <*>", 80, "disk, {what}\nmore text", "x", "disk, <*>", "x")]),
        "ai21_Sys2_raw.csv": ai21_file([
            ("boot ok", "boot ok", 70, "boot ok", "boot ok", "boot ok", "boot  ok")]),
        "togetherModel_Sys1_raw.csv": together_file([(CONTENT, RIGHT, six),
                                                     ("disk, full", "disk, <*>", six)]),
        "togetherModel_Sys2_raw.csv": together_file([("boot ok", "boot ok", six)]),
    }
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return paths


def remote(root: Path, path: Path) -> RemoteFile:
    data = path.read_bytes()
    return RemoteFile(path.relative_to(root).as_posix(), len(data),
                      hashlib.sha256(data).hexdigest())


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, root, requests)."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            requests.append(self.path)

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root, requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def log_dataset(root: Path) -> PublicDataset:
    paths = log_parsing_fixture(root)
    ai21, together = paths[:2], paths[2:]
    return PublicDataset("logs", "test logs", tuple(remote(root, p) for p in ai21 + together),
                         convert_log_parsing)


def all_files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                  if p.is_file())


# ----------------------------------------------------------------------------- converter


def test_log_parsing_conversion_by_hand(server, tmp_path):
    url, root, _ = server
    path = fetch_dataset(log_dataset(root), directory=tmp_path / "data", url=url)
    frame = pd.read_csv(path, keep_default_na=False)
    assert frame["system"].tolist() == ["Sys1", "Sys1", "Sys2"]
    assert frame["query"].tolist() == [CONTENT, "disk, full", "boot ok"]
    assert frame["ref_answer"].tolist() == [RIGHT, "disk, <*>", "boot ok"]
    # j2: prompt tokens + ceil(characters of the raw output / 4), at $10 / $15 per 1M
    assert frame["j2_mid_cost"].tolist() == pytest.approx(
        [(90 + 6) * 10e-6, (80 + math.ceil(22 / 4)) * 10e-6, (70 + 2) * 10e-6])
    assert frame["j2_ultra_cost"].tolist() == pytest.approx([(90 + 3) * 15e-6, 81 * 15e-6,
                                                             72 * 15e-6])
    assert frame["llama2_7b_cost"].tolist() == pytest.approx([113 * 0.2e-6] * 3)
    assert frame["Yi_6B_cost"].tolist() == pytest.approx([113 * 0.2e-6] * 3)
    # correct = template equals the truth once white space is folded
    assert frame["j2_mid"].tolist() == [1, 1, 1]
    assert frame["j2_ultra"].tolist() == [0, 0, 1]  # "boot  ok" folds to "boot ok"
    assert frame["llama2_7b"].tolist() == [1, 0, 0]  # "user  <*>\n logged in " folds right
    assert frame["llama2_13b"].tolist() == [0, 0, 0]
    dataset = load_dataset(path)
    assert dataset.models == ("j2_mid", "j2_ultra", "Mixtral_8x7B", "llama2_7b", "llama2_13b",
                              "llama2_70b", "Yi_34B", "Yi_6B")
    assert dataset.labelled.all() and dataset.n_queries == 3


def test_converter_checks_the_raw_files(tmp_path):
    paths = log_parsing_fixture(tmp_path)
    broken = paths[2].read_text().replace("Yi_6B_template", "Yi_6B_tmpl")
    paths[2].write_text(broken)
    with pytest.raises(DatasetError, match=r"togetherModel_Sys1_raw.csv: missing column.*"
                                           r"Yi_6B_template"):
        convert_log_parsing(paths, tmp_path / "out.csv")
    paths = log_parsing_fixture(tmp_path / "again")
    paths[0].write_text(paths[0].read_text().replace(",90,", ",many,"))
    with pytest.raises(DatasetError, match="row 1, column 'token_num'"):
        convert_log_parsing(paths, tmp_path / "out.csv")


# ----------------------------------------------------------------------------- downloads


def test_fetch_uses_the_cache_and_force_downloads_again(server, tmp_path):
    url, root, requests = server
    dataset = log_dataset(root)
    target = fetch_dataset(dataset, directory=tmp_path / "data", url=url)
    assert len(requests) == 4
    assert fetch_dataset(dataset, directory=tmp_path / "data", url=url) == target
    assert len(requests) == 4  # converted file cached: nothing downloaded
    target.unlink()
    fetch_dataset(dataset, directory=tmp_path / "data", url=url)
    assert len(requests) == 4  # raw files cached and intact: converted again, no download
    fetch_dataset(dataset, directory=tmp_path / "data", url=url, force=True)
    assert len(requests) == 8


def test_a_corrupted_download_fails_its_checksum_and_leaves_nothing(server, tmp_path):
    url, root, _ = server
    dataset = log_dataset(root)
    last = root / dataset.files[-1].path
    last.write_bytes(last.read_bytes().replace(b"boot ok", b"boot KO"))  # same size
    data = tmp_path / "data"
    with pytest.raises(FetchError, match=r"failed its check.*sha256") as info:
        fetch_dataset(dataset, directory=data, url=url)
    assert dataset.files[-1].path in str(info.value)
    kept = all_files(data)
    assert not any(name.endswith(".part") for name in kept)  # no half-written file
    assert "logs.csv" not in kept and dataset.files[-1].path not in [
        k.removeprefix("raw/") for k in kept]
    last.write_bytes(last.read_bytes() + b"x")  # too long
    with pytest.raises(FetchError, match="failed its check"):
        fetch_dataset(dataset, directory=data, url=url)
    assert not any(name.endswith(".part") for name in all_files(data))


def test_no_network_gives_a_clear_message_and_writes_nothing(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError) as info:
        fetch("overruling", directory=tmp_path / "data", url=f"http://127.0.0.1:{port}/",
              timeout=5)
    message = str(info.value)
    assert "cannot download" in message and "overruling.csv" in message
    assert BASE_URL_ENV in message
    assert all_files(tmp_path / "data") == []


def test_base_url_from_parameter_environment_or_default(monkeypatch):
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    assert base_url() == DEFAULT_BASE_URL and DEFAULT_BASE_URL.startswith("https://")
    monkeypatch.setenv(BASE_URL_ENV, "http://mirror.example/files")
    assert base_url() == "http://mirror.example/files/"
    assert base_url("file:///srv/m/") == "file:///srv/m/"


def test_registry_matches_the_published_files():
    assert set(DATASETS) == {"overruling", "logparsing"}
    assert [f.size for f in DATASETS["overruling"].files] == [3666050]
    logs = DATASETS["logparsing"].files
    assert len(logs) == 16 and all(len(f.sha256) == 64 for f in logs)
    with pytest.raises(DatasetError, match=r"unknown public dataset 'nope'.*overruling"):
        fetch("nope")


@pytest.mark.skipif(not (SHARED / "overruling.csv").is_file(), reason="shared data absent")
def test_fetch_overruling_from_a_file_mirror_with_the_real_checksum(tmp_path):
    mirror = tmp_path / "mirror" / "datasets" / "text_classification"
    mirror.mkdir(parents=True)
    (mirror / "overruling.csv").symlink_to(SHARED / "overruling.csv")
    url = (tmp_path / "mirror").as_uri() + "/"
    path = fetch("overruling", directory=tmp_path / "data", url=url)
    dataset = load_dataset(path)
    assert dataset.n_queries == 2160 and dataset.n_models == 12
    assert copy_wide is DATASETS["overruling"].convert


def test_datasets_on_the_command_line(tmp_path, capsys):
    top = argparse.ArgumentParser(prog="optllm")
    sub = top.add_subparsers(dest="command", required=True)
    run_command.add_parser(sub)
    datasets_command.add_parser(sub)
    assert datasets_command.run(top.parse_args(["datasets", "list", "--data-dir",
                                           str(tmp_path)])) == 0
    out = capsys.readouterr().out
    assert "overruling" in out and "logparsing" in out and "not fetched" in out
    table = list_datasets(tmp_path)
    assert not table["fetched"].any() and np.all(table["megabytes"] > 3)
    args = top.parse_args(["datasets", "fetch", "overruling", "--data-dir", str(tmp_path),
                           "--url", "http://127.0.0.1:9/"])
    with pytest.raises(FetchError, match="cannot download"):
        datasets_command.run(args)


@pytest.fixture
def trickle():
    """An HTTP server on 127.0.0.1 that promises a large file and sends one byte every
    20 ms, each read well within a socket timeout; yields its base URL."""
    stop = threading.Event()

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
            while not stop.is_set():
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                stop.wait(0.02)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_a_trickling_server_is_stopped_by_the_deadline_leaving_nothing(trickle, tmp_path,
                                                                        capsys):
    data = tmp_path / "data"
    with pytest.raises(FetchError, match="longer than its deadline") as info:
        fetch("overruling", directory=data, url=trickle, timeout=5, deadline=0.5)
    assert "overruling.csv" in str(info.value)
    assert not any(name.endswith(".part") for name in all_files(data))
    assert cli.main(["datasets", "fetch", "overruling", "--data-dir", str(data), "--url",
                     trickle, "--deadline", "0.3"]) == 2
    assert "deadline" in capsys.readouterr().err


def test_a_data_folder_that_is_a_file_or_unwritable_is_a_clear_error(tmp_path, capsys,
                                                                     monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for folder in (a_file, a_file / "below"):
        assert cli.main(["datasets", "fetch", "overruling", "--data-dir", str(folder)]) == 2
        err = capsys.readouterr().err
        assert f"cannot use {folder} as a data folder" in err and "Traceback" not in err
    monkeypatch.setattr("os.access", lambda *args, **kwargs: False)  # as a read-only folder
    with pytest.raises(FetchError, match="not writable"):
        fetch("overruling", directory=tmp_path / "read-only")
    with pytest.raises(ConfigError, match="deadline"):
        fetch("overruling", directory=tmp_path / "d", deadline=0)
