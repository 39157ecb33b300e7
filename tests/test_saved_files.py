"""Saved files hold data, never code: every learner and featuriser round-trips exactly through
a policy file, a crafted pickle where any saved file is expected runs nothing, and damaged or
edited fields are refused with a message naming the file and the field."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from saved import npy_bytes, read_array, rewrite

from optllm.config import RunConfig
from optllm.data import savefile
from optllm.data.synthetic import generate
from optllm.exceptions import SavedFileError
from optllm.pipeline.batch import run_batch
from optllm.pipeline.routing import Policy, PolicyFileError, policy_from_result, route_queries
from optllm.pipeline.runfile import RunFileError, load_run

COMBINATIONS = [("tfidf", "logistic"), ("word+char", "logistic"), ("word+char", "knn"),
                ("tfidf-svd", "knn"), ("tfidf-svd", "xgboost"), ("char-tfidf", "prior"),
                ("tfidf", "cluster-rate"), ("auto", "group-rate"),
                ("tfidf", "logistic", "topic")]


@pytest.fixture(scope="module")
def new_queries():
    return generate(60, 3, seed=1)


@pytest.fixture(scope="module", params=COMBINATIONS,
                ids=lambda c: f"{c[1]}-on-{c[0]}" + "".join(f"+{x}" for x in c[2:]))
def policy(request, new_queries) -> Policy:
    featuriser, learner, *columns = request.param
    config = RunConfig(bootstraps=3, method="hull", budget=0.1, learner=learner,
                       featuriser=featuriser,
                       feature_columns="topic" if learner == "group-rate" else
                       ",".join(columns) or "none")
    result = run_batch(generate(120, 3, seed=0),
                       (new_queries.query_ids, new_queries.queries, new_queries.metadata),
                       config, token_method="estimate")
    return policy_from_result(result)


@pytest.fixture(scope="module")
def policy_file(policy, tmp_path_factory) -> Path:
    return policy.save(tmp_path_factory.mktemp("policy") / "p.policy")


def test_every_learner_and_featuriser_round_trip_exactly(policy, policy_file, new_queries):
    again = Policy.load(policy_file)
    assert type(again.predictor) is type(policy.predictor)
    assert type(again.featuriser) is type(policy.featuriser)
    assert again.predictor.get_params() == policy.predictor.get_params()
    assert again.feature_columns == policy.feature_columns
    columns = new_queries.metadata
    for before, after in zip(policy.predict(new_queries.queries, columns),
                             again.predict(new_queries.queries, columns), strict=True):
        np.testing.assert_array_equal(before, after)
    assert route_queries(again, new_queries.query_ids, new_queries.queries, columns)[0].equals(
        route_queries(policy, new_queries.query_ids, new_queries.queries, columns)[0])
    assert (again.rate, again.alpha, again.point) == (policy.rate, policy.alpha, policy.point)


class _Plant:
    """Unpickling this creates the file `marker`: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _crafted_files(tmp_path: Path, marker: Path, policy_file: Path) -> dict[str, Path]:
    """Every place a pickle could hide in a saved file."""
    payload = pickle.dumps(_Plant(marker))
    files = {"raw-pickle": tmp_path / "raw.policy"}
    files["raw-pickle"].write_bytes(payload)
    legacy = tmp_path / "legacy.policy"  # OptLLM 0.1's policy layout
    with zipfile.ZipFile(legacy, "w") as zf:
        zf.writestr("policy.json", '{"format": "optllm.Policy", "version": 2}')
        zf.writestr("predictor.pkl", payload)
        zf.writestr("featuriser.pkl", payload)
    files["legacy"] = legacy
    evil_array = np.array([_Plant(marker)], dtype=object)
    files["object-array"] = rewrite(
        policy_file, tmp_path / "object.policy",
        members={"arrays/predictor/base_rate.npy": npy_bytes(evil_array, allow_pickle=True)})
    npz = tmp_path / "run.npz"  # OptLLM 0.1's run layout with a pickled array
    buffer = io.BytesIO()
    np.save(buffer, evil_array, allow_pickle=True)
    with zipfile.ZipFile(npz, "w") as zf:
        zf.writestr("header.npy", buffer.getvalue())
        zf.writestr("mean.npy", buffer.getvalue())
    files["npz"] = npz
    return files


def test_a_crafted_pickle_is_refused_and_runs_nothing(policy_file, tmp_path):
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_Plant(marker)))  # the payload works when unpickled ...
    assert marker.exists()
    marker.unlink()
    for kind, path in _crafted_files(tmp_path, marker, policy_file).items():
        for load in (Policy.load, load_run):
            with pytest.raises(SavedFileError, match=path.name):
                load(path)
            assert not marker.exists(), f"{kind} via {load.__qualname__} ran code"


def _refused(path: Path, message: str) -> None:
    with pytest.raises(PolicyFileError, match=message) as info:
        Policy.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("manifest", "message"), [
    ({"rate": -1.0}, r"field rate: is -1\.0, expected between 0\.0"),
    ({"rate": "fast"}, "field rate: is 'fast', expected float"),
    ({"alpha": 1e300}, "field alpha: is 1e\\+300"),
    ({"alpha": True}, "field alpha: is True, expected float"),
    ({"costs.models.0.input_per_mtok": -3.0}, r"costs/models\[0\]/input_per_mtok: is -3\.0"),
    ({"costs.models.1.output_tokens": None}, r"costs/models\[1\]/output_tokens: is None"),
    ({"costs.token_method": "exec"}, "field costs/token_method: 'exec' is not one of"),
    ({"costs.models": []}, "field costs/models: is empty"),
    ({"costs.models.0.model": "other"}, "differ from the priced models"),
    ({"predictor.name": "os.system"}, "field predictor/name: 'os.system' is not a learner"),
    ({"featuriser.name": "pickle"}, "field featuriser/name: 'pickle' is not a featuriser"),
    ({"predictor.params.evil": 1}, "field predictor/params: names"),
    ({"predictor.params.random_state": {"a": 1}}, "params.random_state: is .* not a plain"),
    ({"predictor.n_features_in": 7},
     "n_features_in|columns_|X_indices|field predictor/(X|centers_|groups_): has shape"),
    ({"predictor.model_names": ["a", "a", "b"]}, "model_names: has repeated entries"),
])
def test_edited_manifest_fields_are_refused(policy_file, tmp_path, manifest, message):
    _refused(rewrite(policy_file, tmp_path / "bad.policy", manifest=manifest), message)


def test_nan_and_infinity_in_the_manifest_are_refused(policy_file, tmp_path):
    with zipfile.ZipFile(policy_file) as zf:
        text = zf.read("manifest.json").decode()
    key = '"rate": '
    start = text.index(key) + len(key)
    end = start + len(text[start:].split(",")[0])
    for value, message in (("NaN", "NaN is not a number"), ("1e999", "field rate: is inf")):
        bad = rewrite(policy_file, tmp_path / "bad.policy",
                      raw_manifest=text[:start] + value + text[end:])
        _refused(bad, message)


def test_edited_arrays_are_refused(policy, policy_file, tmp_path):
    base_rate = read_array(policy_file, "predictor/base_rate")
    cases = {
        "predictor/base_rate": (np.full_like(base_rate, np.nan),
                                "predictor/base_rate: holds nan"),
        "predictor/auc": (np.full(base_rate.size + 1, 0.5), "predictor/auc: has shape"),
        "predictor/n_oob": (np.full(base_rate.size, 2.5), "predictor/n_oob: has dtype float64"),
    }
    for name, (array, message) in cases.items():
        _refused(rewrite(policy_file, tmp_path / "bad.policy", arrays={name: array}), message)
    _refused(rewrite(policy_file, tmp_path / "bad.policy", drop=("arrays/predictor/auc.npy",)),
             "field predictor/auc: missing")


def test_a_huge_declared_shape_is_an_error_not_a_memory_error(policy_file, tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**10,)})
    huge = header.getvalue() + np.zeros(4).tobytes()
    bad = rewrite(policy_file, tmp_path / "bad.policy",
                  members={"arrays/predictor/base_rate.npy": huge})
    _refused(bad, "declared shape .10000000000,. needs 80,000,000,000 bytes")


def test_a_member_lying_about_its_size_is_refused(policy_file, tmp_path):
    data = bytearray(policy_file.read_bytes())
    first = data.index(b"PK\x01\x02")  # the central directory entry of the first member
    data[first + 24:first + 28] = (0xFFFFFFFE).to_bytes(4, "little")  # uncompressed size
    bad = tmp_path / "liar.policy"
    bad.write_bytes(bytes(data))
    _refused(bad, "liar.policy")


def test_members_over_the_size_limit_are_not_read(policy_file, tmp_path, monkeypatch):
    monkeypatch.setattr(savefile, "MAX_MEMBER_BYTES", 64)
    _refused(policy_file, "declares .* bytes .at most 64.")


def test_every_learner_checks_its_own_arrays(policy, policy_file, tmp_path):
    """Tamper with the learner-specific arrays of each combination."""
    with zipfile.ZipFile(policy_file) as zf:
        names = [n[len("arrays/"):-len(".npy")] for n in zf.namelist()
                 if n.startswith("arrays/predictor/") or n.startswith("arrays/featuriser/")]
    for name in names:
        array = read_array(policy_file, name)
        if array.dtype.kind == "b":
            bad = np.zeros((*array.shape, 2), dtype=bool)
        elif array.size == 0:
            bad = np.zeros((*array.shape[:-1], array.shape[-1] + 1))
        elif array.dtype.kind in "iu":
            bad = np.full_like(array, -1)
        else:
            bad = np.full(array.shape, np.inf)
        with pytest.raises(PolicyFileError, match=f"field {name}") as info:
            Policy.load(rewrite(policy_file, tmp_path / "bad.policy", arrays={name: bad}))
        assert str(tmp_path) in str(info.value)


def test_xgboost_boosters_are_checked(policy, policy_file, tmp_path):
    with zipfile.ZipFile(policy_file) as zf:
        boosters = [n for n in zf.namelist() if n.endswith(".ubj")]
    if not boosters:
        pytest.skip("this combination has no XGBoost boosters")
    _refused(rewrite(policy_file, tmp_path / "bad.policy", members={boosters[0]: b"junk"}),
             "not an XGBoost model")
    _refused(rewrite(policy_file, tmp_path / "bad.policy", drop=(boosters[-1],)), "missing")


def test_an_earlier_xgboost_file_with_the_retired_alpha_parameter_loads(policy, policy_file,
                                                                       tmp_path):
    if policy.predictor.__class__.__name__ != "BootstrapXGBoostPredictor":
        pytest.skip("only XGBoost learners stored an alpha")
    earlier = rewrite(policy_file, tmp_path / "earlier.policy",
                      manifest={"predictor.params.alpha": 0.0})
    assert Policy.load(earlier).predictor.get_params() == policy.predictor.get_params()


def test_a_directory_or_an_empty_file_is_refused(tmp_path):
    with pytest.raises(RunFileError, match="is a directory"):
        load_run(tmp_path)
    empty = tmp_path / "empty.policy"
    empty.write_bytes(b"")
    with pytest.raises(PolicyFileError, match="not a readable policy file"):
        Policy.load(empty)
    assert os.listdir(tmp_path) == ["empty.policy"]
