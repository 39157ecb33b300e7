"""Run files: a saved run reopens to the same front and point; damage is reported clearly."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from saved import read_array, rewrite

from optllm import optimize
from optllm.data.dataset import split_queries
from optllm.data.synthetic import generate
from optllm.exceptions import ExportError
from optllm.pipeline import runfile
from optllm.pipeline.run import Prediction, RunConfig
from optllm.pipeline.runfile import RunFileError, load_run, save_run


@pytest.fixture(scope="module")
def run() -> dict:
    """A small run with made-up predictions (the file does not care how they were made)."""
    dataset = generate(200, 4, seed=3)
    config = RunConfig(bootstraps=2, train_fraction=0.1)
    split = split_queries(dataset, config.train_fraction, config.seed)
    rng = np.random.default_rng(0)
    mean = rng.random((split.allocate.size, dataset.n_models))
    spread = rng.random(mean.shape) * 0.1
    quality = pd.DataFrame({"model": list(dataset.models), "auc": 0.6, "brier": 0.2,
                            "base_rate": 0.7, "prior_brier": 0.21, "beats_prior": True,
                            "n_oob": 10})
    prediction = Prediction(mean, spread, mean.copy(), None, quality, None)
    allocated = dataset.subset(split.allocate)
    return {"dataset": dataset, "config": config, "split": split, "prediction": prediction,
            "allocated": allocated, "front": optimize(mean, allocated.cost, "optllm", 6)}


def save(run: dict, path: Path, front=None, selected: int | None = 2, **kw) -> Path:
    return save_run(path, dataset_source="data/x.csv", dataset=run["dataset"],
                    config=run["config"], prediction=run["prediction"], split=run["split"],
                    front=front or run["front"], selected=selected, **kw)


def test_round_trip(run: dict, tmp_path: Path) -> None:
    path = save(run, tmp_path / "run.optllm")
    saved = load_run(path)
    assert saved.dataset_source == "data/x.csv"
    assert saved.config == run["config"]
    assert saved.models == run["dataset"].models
    np.testing.assert_array_equal(saved.split.train, run["split"].train)
    np.testing.assert_array_equal(saved.scores, run["prediction"].scores)
    front = saved.rebuild_front(run["allocated"].cost)
    np.testing.assert_allclose(front.cost, run["front"].cost)
    assert saved.selected == 2
    np.testing.assert_array_equal(front.allocation(2), run["front"].allocation(2))
    assert list(saved.prediction().quality["model"]) == list(run["dataset"].models)
    assert not list(tmp_path.glob(".*.tmp"))


def test_big_fronts_are_thinned_but_keep_the_chosen_point(
        run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runfile, "MAX_SAVED_POINTS", 40)
    hull = optimize(run["prediction"].scores, run["allocated"].cost, "hull")
    assert len(hull) > 40
    chosen = 123
    saved = load_run(save(run, tmp_path / "hull.npz", front=hull, selected=chosen))
    front = saved.rebuild_front(run["allocated"].cost)
    assert len(front) <= 40 + 1
    assert saved.selected is not None
    assert front.cost[saved.selected] == pytest.approx(hull.cost[chosen])
    np.testing.assert_array_equal(front.allocation(saved.selected), hull.allocation(chosen))


def test_existing_file_needs_force(run: dict, tmp_path: Path) -> None:
    path = save(run, tmp_path / "run.optllm")
    with pytest.raises(ExportError, match="already exists"):
        save(run, path)
    save(run, path, selected=None, force=True)
    assert load_run(path).selected is None


def test_missing_directory(run: dict, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not an existing directory"):
        save(run, tmp_path / "nowhere" / "run.npz")


def test_damaged_files(run: dict, tmp_path: Path) -> None:
    good = save(run, tmp_path / "run.optllm")
    with pytest.raises(RunFileError, match="file not found"):
        load_run(tmp_path / "absent.optllm")
    text = tmp_path / "text.optllm"
    text.write_text("hello")
    with pytest.raises(RunFileError, match="not a readable run file"):
        load_run(text)
    cut = tmp_path / "cut.optllm"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(RunFileError, match=r"cut\.optllm"):
        load_run(cut)
    other = tmp_path / "other.npz"
    np.savez(other, numbers=np.arange(3))
    with pytest.raises(RunFileError, match=r"no manifest\.json"):
        load_run(other)


@pytest.mark.parametrize(("change", "message"), [
    ({"manifest": {"format": "something"}}, "not an OptLLM run file"),
    ({"manifest": {"version": 99}}, "version 99"),
    ({"manifest": {"config.bootstraps": 0}}, "field config: bootstraps must be at least 1"),
    ({"manifest": {"config.seed": "zero"}}, "field config/seed: is 'zero', expected int"),
    ({"raw": ('"budget": null', '"budget": 1e999')}, "field config/budget: is inf"),
    ({"raw": ('"format"', '"format": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['
              * 100)}, "manifest.json is not valid JSON"),
    ({"manifest": {"n_queries": -5}}, "field n_queries: is -5"),
    ({"manifest": {"models": ["a", "a", "b", "c"]}}, "field models: has repeated entries"),
    ({"arrays": {"scores": np.zeros((3, 3))}}, "field scores: has shape"),
    ({"arrays": {"mean": np.full((180, 4), np.nan)}}, "field mean: holds nan"),
    ({"arrays": {"spread": np.full((180, 4), -1.0)}}, "field spread: holds -1.0, below 0"),
    ({"arrays": {"front_allocations": lambda a: np.full_like(a, 9)}},
     "field front_allocations: holds 9, above 3"),
    ({"arrays": {"front_cost": lambda a: -a}}, "field front_cost: holds -"),
    ({"arrays": {"train": np.array([0, 0])}}, "each of the 200 queries once"),
    ({"arrays": {"front_cost": np.array(["a"])}}, "dtype <U1 is not allowed"),
    ({"manifest": {"selected": 10_000}}, "field selected: is 10000"),
    ({"drop": ("arrays/mean.npy",)}, "field mean: missing"),
])
def test_every_damaged_field_is_named(run: dict, tmp_path: Path, change: dict,
                                      message: str) -> None:
    good = save(run, tmp_path / "run.optllm")
    if "raw" in change:
        with zipfile.ZipFile(good) as zf:
            text = zf.read("manifest.json").decode()
        assert change["raw"][0] in text
        change = {"raw_manifest": text.replace(*change.pop("raw"), 1)}
    for name, make in change.get("arrays", {}).items():
        if callable(make):
            change["arrays"][name] = make(read_array(good, name))
    with pytest.raises(RunFileError, match=message):
        load_run(rewrite(good, tmp_path / "bad.optllm", **change))


def test_changed_dataset_is_detected(run: dict, tmp_path: Path) -> None:
    saved = load_run(save(run, tmp_path / "run.optllm"))
    with pytest.raises(RunFileError, match="200 queries x 4 models"):
        saved.check_dataset(generate(150, 4, seed=3))
    with pytest.raises(RunFileError, match="costs differ"):
        saved.rebuild_front(run["allocated"].cost * 2)


def test_saved_file_errors_share_one_base() -> None:
    from optllm.exceptions import OptLLMError, SavedFileError
    from optllm.pipeline.routing import PolicyFileError
    from optllm.pipeline.runfile import RunFileError

    for error in (PolicyFileError, RunFileError):
        assert issubclass(error, SavedFileError) and issubclass(error, OptLLMError)
        assert issubclass(error, ValueError)
    with pytest.raises(RunFileError, match=r"^m\.zip: not an OptLLM run file$"):
        RunFileError.check_header("m.zip", {"format": "other", "version": 1}, "fmt", 1)
    with pytest.raises(PolicyFileError, match=r"^p: policy file version 99 is not supported "
                       r"\(this version reads 2\)$"):
        PolicyFileError.check_header("p", {"format": "fmt", "version": 99}, "fmt", 2)
    RunFileError.check_header("r", {"format": "fmt", "version": 3}, "fmt", 3)


def test_the_feature_columns_and_their_levels_are_saved(run: dict, tmp_path: Path) -> None:
    from dataclasses import replace

    from optllm.predict.columns import CategoryEncoder, ColumnFeaturiser
    from optllm.predict.features import NoFeatures

    encoder = CategoryEncoder(("topic",)).fit(run["dataset"].metadata)
    featuriser = ColumnFeaturiser(NoFeatures().fit([]), encoder, use_text=False)
    with_columns = dict(run, prediction=replace(run["prediction"], featuriser=featuriser))
    saved = load_run(save(with_columns, tmp_path / "run.optllm"))
    assert saved.feature_columns == ("topic",)
    assert saved.feature_levels == (tuple(encoder.levels_[0]),)
    assert saved.prediction().feature_columns == ["topic"]
    assert load_run(save(run, tmp_path / "plain.optllm")).feature_columns == ()
    bad = rewrite(tmp_path / "run.optllm", tmp_path / "bad.optllm",
                  manifest={"feature_columns.topic": [1, 2]})
    with pytest.raises(RunFileError, match="feature_columns/topic: must be a list of strings"):
        load_run(bad)


def test_a_file_from_before_feature_columns_still_opens(run: dict, tmp_path: Path) -> None:
    path = save(run, tmp_path / "run.optllm")
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    config = {k: v for k, v in manifest["config"].items() if k != "feature_columns"}
    older = rewrite(path, tmp_path / "older.optllm", manifest={"config": config})
    assert load_run(older).config.feature_columns == "auto"
