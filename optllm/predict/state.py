"""Fitted featurisers and learners as plain data: JSON fields and numeric arrays.

A policy file carries the fitted featuriser and learner. Each is stored by its registry name,
its constructor parameters and its fitted attributes as arrays (TF-IDF vocabularies as word
lists with their idf weights, linear coefficients, neighbours' rows, XGBoost boosters in
XGBoost's own UBJSON format), and rebuilt on load by the class the registry names, so nothing
in the file decides which code runs. Every field is checked against the shapes the others
imply (`savefile.Fields`) before it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xgboost as xgb
from sklearn.base import BaseEstimator

from optllm.data.savefile import Fields, Spec, Stored
from optllm.predict.base import Features, Featuriser, Learner, quality_table
from optllm.predict.columns import CategoryEncoder, ColumnFeaturiser
from optllm.predict.features import (
    NoFeatures,
    TfidfFeaturiser,
    TfidfSvdFeaturiser,
    WordCharFeaturiser,
)
from optllm.predict.learners import (
    KNNPredictor,
    LogisticPredictor,
    PriorPredictor,
)
from optllm.predict.rates import ClusterRatePredictor, GroupRatePredictor
from optllm.predict.registry import FEATURISERS, LEARNERS, Entry, registered_name
from optllm.predict.xgboost import BootstrapXGBoostPredictor

#: Parameters files from earlier versions carry that no class takes any more (XGBoost's
#: `alpha`: the robust score's weight is the run's, `RunConfig.alpha`).
_RETIRED_PARAMS = frozenset({"alpha"})
#: Largest number of features, rows or members a stored estimator may declare.
_MAX_SIZE = 2**31 - 1


def _params(estimator: Featuriser | Learner) -> dict[str, object]:
    """Constructor parameters as JSON values (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in estimator.get_params(deep=False).items()}


def _checked_params(fields: Fields, manifest: Mapping[str, object], cls: type
                    ) -> dict[str, object]:
    """The stored parameters: exactly the class's names, each a JSON number, string, bool,
    null or a flat list of numbers (as every parameter here is)."""
    params = fields.value(manifest, "params", dict)
    params = {k: v for k, v in params.items() if k not in _RETIRED_PARAMS}
    expected = set(cls().get_params(deep=False))
    if set(params) != expected:
        raise fields.fail("params", f"names {sorted(params)} differ from {sorted(expected)}")
    for key, value in params.items():
        items = value if isinstance(value, list) else [value]
        if not all(v is None or isinstance(v, int | float | str | bool) for v in items):
            raise fields.fail(f"params.{key}", f"is {value!r}, not a plain value")
        if isinstance(value, list):
            params[key] = tuple(value)
    return params


def _construct(fields: Fields, manifest: Mapping[str, object], registry: dict[str, Entry],
               kind: str) -> BaseEstimator:
    """A new estimator of the registered class the manifest names, with its parameters."""
    name = fields.value(manifest, "name", str)
    if name not in registry:
        raise fields.fail("name", f"{name!r} is not a {kind}; known: {', '.join(registry)}")
    cls = registry[name].load()
    return cls(**_checked_params(fields, manifest, cls))


# ------------------------------------------------------------------ featurisers


#: The manifest name of a text featuriser with extra columns beside it (not a registry name:
#: it wraps one).
WITH_COLUMNS = "with-columns"


def save_featuriser(featuriser: Featuriser) -> tuple[dict[str, object], Stored]:
    """The manifest fields and arrays of a fitted featuriser."""
    if isinstance(featuriser, ColumnFeaturiser):
        text, text_arrays = save_featuriser(featuriser.text)
        stored = Stored({})
        stored.add("text", text_arrays)
        return {"name": WITH_COLUMNS, "text": text, "use_text": featuriser.use_text,
                "columns": list(featuriser.encoder.columns),
                "levels": featuriser.encoder.levels_}, stored
    name = registered_name(featuriser, FEATURISERS)
    manifest: dict[str, object] = {"name": name, "params": _params(featuriser)}
    stored = Stored({})
    if isinstance(featuriser, WordCharFeaturiser):
        for part, block in (("word", featuriser.word_), ("char", featuriser.char_)):
            manifest[part], nested = save_featuriser(block)
            stored.add(part, nested)
    elif isinstance(featuriser, TfidfFeaturiser):
        vocabulary = featuriser.vectorizer_.vocabulary_
        terms = [""] * len(vocabulary)
        for term, column in vocabulary.items():
            terms[column] = term
        manifest |= {"prefix": featuriser.prefix_, "suffix": featuriser.suffix_,
                     "vocabulary": terms}
        stored.arrays["idf"] = featuriser.vectorizer_.idf_
        if isinstance(featuriser, TfidfSvdFeaturiser):
            stored.arrays["components"] = featuriser.components_
    return manifest, stored


def load_featuriser(fields: Fields, manifest: Mapping[str, object]) -> Featuriser:
    """A fitted featuriser rebuilt from checked fields; `fields` holds its arrays."""
    if manifest.get("name") == WITH_COLUMNS:
        return _load_with_columns(fields, manifest)
    featuriser = _construct(fields, manifest, FEATURISERS, "featuriser")
    if isinstance(featuriser, NoFeatures):
        featuriser.n_features_out_ = 0
    elif isinstance(featuriser, WordCharFeaturiser):
        blocks: list[TfidfFeaturiser] = []
        for part, kind in (("word", "tfidf"), ("char", "char-tfidf")):
            block_manifest = fields.value(manifest, part, dict)
            block = load_featuriser(fields.part(part), block_manifest)
            if registered_name(block, FEATURISERS) != kind:
                raise fields.fail(f"{part}.name", f"must be {kind!r}")
            blocks.append(cast(TfidfFeaturiser, block))  # both kinds are TF-IDF classes
        featuriser.word_, featuriser.char_ = blocks
        featuriser.n_features_out_ = sum(b.n_features_out_ for b in blocks)
    else:
        _load_tfidf(fields, manifest, cast(TfidfFeaturiser, featuriser))  # the other kinds
    return cast(Featuriser, featuriser)  # every registered featuriser is one (test_base.py)


def _load_with_columns(fields: Fields, manifest: Mapping[str, object]) -> ColumnFeaturiser:
    """A text featuriser with its extra columns: the names and each one's levels."""
    columns = fields.strings(manifest, "columns", "C", unique=True)
    levels = fields.value(manifest, "levels", list)
    if len(levels) != len(columns):
        raise fields.fail("levels", f"has {len(levels)} entries for {len(columns)} columns")
    encoder = CategoryEncoder(tuple(columns))
    encoder.levels_ = [fields.strings({"levels": value}, "levels", unique=True)
                       for value in levels]
    encoder.n_features_out_ = sum(len(v) for v in encoder.levels_)
    text = load_featuriser(fields.part("text"), fields.value(manifest, "text", dict))
    return ColumnFeaturiser(text, encoder, fields.value(manifest, "use_text", bool))


def _load_tfidf(fields: Fields, manifest: Mapping[str, object],
                featuriser: TfidfFeaturiser) -> None:
    terms = fields.strings(manifest, "vocabulary", "V", unique=True)
    idf = fields.array("idf", Spec(("V",), low=1.0))  # idf = 1 + log(...) >= 1
    featuriser.prefix_ = fields.value(manifest, "prefix", str)
    featuriser.suffix_ = fields.value(manifest, "suffix", str)
    vectorizer = featuriser._make_vectorizer()
    vectorizer.vocabulary_ = {term: column for column, term in enumerate(terms)}
    vectorizer.idf_ = idf
    featuriser.vectorizer_ = vectorizer
    featuriser.n_features_out_ = len(terms)
    if isinstance(featuriser, TfidfSvdFeaturiser):
        featuriser.components_ = fields.array("components", Spec(("K", "V")))
        featuriser.n_components_ = featuriser.n_features_out_ = featuriser.components_.shape[0]
        if featuriser.n_components_ < 1:
            raise fields.fail("components", "has no components")


# ------------------------------------------------------------------- learners

_QUALITY = {
    "auc": Spec(("M",), low=0.0, high=1.0, nan=True),
    "brier": Spec(("M",), low=0.0, high=1.0, nan=True),
    "prior_brier": Spec(("M",), low=0.0, high=1.0, nan=True),
    "n_oob": Spec(("M",), kind="i", low=0),
}
#: Fitted arrays of each learner beyond those every learner has (`_QUALITY`, `base_rate`).
_ARRAYS: dict[type, dict[str, Spec]] = {
    PriorPredictor: {"rate_": Spec(("M",), low=0.0, high=1.0),
                     "se_": Spec(("M",), low=0.0, high=1.0)},
    LogisticPredictor: {"C_": Spec(("M",), low=0.0, nan=True),
                        "columns_": Spec(("D",), kind="i", low=0),
                        "coef_": Spec(("D", "M")),
                        "intercept_": Spec(("M",)),
                        "boot_coef_": Spec(("D", "BM")),
                        "boot_intercept_": Spec(("BM",))},
    GroupRatePredictor: {"groups_": Spec(("G", "F")),
                         "group_rows_": Spec(("G",), low=1.0),
                         "group_positives_": Spec(("G", "M"), low=0.0),
                         "rate_": Spec(("M",), low=0.0, high=1.0)},
    ClusterRatePredictor: {"centers_": Spec(("G", "F")),
                           "group_rows_": Spec(("G",), low=0.0),
                           "group_positives_": Spec(("G", "M"), low=0.0),
                           "rate_": Spec(("M",), low=0.0, high=1.0)},
    KNNPredictor: {"Y_": Spec(("N", "M"), low=0.0, high=1.0),
                   "rate_": Spec(("M",), low=0.0, high=1.0)},
    BootstrapXGBoostPredictor: {"seeds_": Spec(("B",), kind="i", low=0),
                                "weights_": Spec(("B",), low=0.0),
                                "trained_": Spec(("B", "M"), kind="b"),
                                "inbag_rate_": Spec(("B", "M"), low=0.0, high=1.0)},
}


def quality_arrays(quality: pd.DataFrame) -> dict[str, np.ndarray]:
    """A learner's per-model quality table (`quality_`) as arrays."""
    return {k: quality[k].to_numpy() for k in ("base_rate", *_QUALITY)}


def load_quality(fields: Fields, names: list[str]) -> pd.DataFrame:
    """The quality table of the models `names` from checked arrays."""
    fields.dims["M"] = len(names)
    base_rate = fields.array("base_rate", Spec(("M",), low=0.0, high=1.0))
    q = {k: fields.array(k, spec) for k, spec in _QUALITY.items()}
    return quality_table(names, q["auc"], q["brier"], base_rate, q["prior_brier"], q["n_oob"])


def save_learner(learner: Learner) -> tuple[dict[str, object], Stored]:
    """The manifest fields and arrays of a fitted learner."""
    name = registered_name(learner, LEARNERS)
    manifest: dict[str, object] = {
        "name": name, "params": _params(learner),
        "model_names": [str(m) for m in learner.model_names_],
        "n_features_in": int(learner.n_features_in_)}
    stored = Stored({}, quality_arrays(learner.quality_))
    stored.arrays |= {attr: getattr(learner, attr) for attr in _ARRAYS[type(learner)]}
    if isinstance(learner, GroupRatePredictor | ClusterRatePredictor):
        manifest["strength"] = float(learner.strength_)
    if isinstance(learner, KNNPredictor):
        X = learner.X_
        manifest["X_sparse"] = bool(sp.issparse(X))
        stored.arrays |= ({"X_data": X.data, "X_indices": X.indices, "X_indptr": X.indptr}
                          if sp.issparse(X) else {"X": X})
    elif isinstance(learner, BootstrapXGBoostPredictor):
        manifest["has_booster"] = [b is not None for b in learner.boosters_]
        stored.blobs |= {f"booster_{b:04d}.ubj": bytes(booster.save_raw("ubj"))
                         for b, booster in enumerate(learner.boosters_) if booster is not None}
    return manifest, stored


def load_learner(fields: Fields, manifest: Mapping[str, object]) -> Learner:
    """A fitted learner rebuilt from checked fields; `fields` holds its arrays and blobs."""
    # Every registered learner is one (tests/predict/test_base.py) and has these attributes.
    learner = cast(Learner, _construct(fields, manifest, LEARNERS, "learner"))
    names = fields.strings(manifest, "model_names", "M", unique=True)
    n_features = fields.value(manifest, "n_features_in", int, low=0, high=_MAX_SIZE)
    fields.dims["F"] = n_features
    quality = load_quality(fields, names)
    fitted: dict[str, object] = {
        "model_names_": names, "n_models_": len(names), "n_features_in_": n_features,
        "quality_": quality, "base_rate_": quality["base_rate"].to_numpy()}
    fitted |= {attr: fields.array(attr, spec) for attr, spec in _ARRAYS[type(learner)].items()}
    for attr, value in fitted.items():
        setattr(learner, attr, value)
    _check_learner(fields, manifest, learner)
    return learner


def _check_learner(fields: Fields, manifest: Mapping[str, object], learner: Learner) -> None:
    """Checks that tie fields together, and the parameters prediction uses."""
    if isinstance(learner, LogisticPredictor):
        columns = learner.columns_
        if columns.size and (columns.max() >= learner.n_features_in_
                             or (np.diff(columns) <= 0).any()):
            raise fields.fail("columns_", f"must be increasing feature indices below "
                              f"{learner.n_features_in_}")
        if learner.boot_intercept_.size % learner.n_models_:
            raise fields.fail("boot_intercept_", f"size {learner.boot_intercept_.size} is not "
                              f"a multiple of the {learner.n_models_} models")
    elif isinstance(learner, GroupRatePredictor | ClusterRatePredictor):
        learner.strength_ = fields.value(manifest, "strength", float, low=1e-12)
        if (learner.group_positives_ > learner.group_rows_[:, None]).any():
            raise fields.fail("group_positives_", "has more successes than rows in a group")
        if isinstance(learner, ClusterRatePredictor):
            learner.n_clusters_ = learner.centers_.shape[0]
    elif isinstance(learner, KNNPredictor):
        params = fields.part("params")
        values = fields.value(manifest, "params", dict)
        params.value(values, "n_neighbors", int, low=1)
        params.value(values, "prior_strength", float, low=0)
        if not np.isin(learner.Y_, (0.0, 1.0)).all():
            raise fields.fail("Y_", "must hold only 0/1 labels")
        learner.X_ = _load_rows(fields, manifest, learner.Y_.shape[0])
    elif isinstance(learner, BootstrapXGBoostPredictor):
        params = fields.part("params")
        values = fields.value(manifest, "params", dict)
        if params.value(values, "n_jobs", int, low=-1, high=1024) == 0:
            raise params.fail("n_jobs", "is 0, expected -1 (all CPUs) or 1-1024")
        if not learner.weights_.sum() > 0:
            raise fields.fail("weights_", "must not all be zero")
        learner.boosters_ = _load_boosters(fields, manifest, learner)


def _load_rows(fields: Fields, manifest: Mapping[str, object], n: int) -> Features:
    """The neighbours' unit-norm rows (N, F), dense or CSR."""
    if not fields.value(manifest, "X_sparse", bool):
        return fields.array("X", Spec(("N", "F")))
    data = fields.array("X_data", Spec(("NNZ",)))
    indices = fields.array("X_indices", Spec(("NNZ",), kind="i", low=0))
    indptr = fields.array("X_indptr", Spec((n + 1,), kind="i", low=0))
    width = fields.dims["F"]
    if indptr[0] != 0 or indptr[-1] != data.size or (np.diff(indptr) < 0).any():
        raise fields.fail("X_indptr", f"must rise from 0 to {data.size}")
    if indices.size and indices.max() >= width:
        raise fields.fail("X_indices", f"must be below {width}")
    return sp.csr_matrix((data, indices, indptr), shape=(n, width))


def _load_boosters(fields: Fields, manifest: Mapping[str, object],
                   learner: BootstrapXGBoostPredictor) -> list[xgb.Booster | None]:
    """Each member's booster from its UBJSON blob, checked to read `n_features_in_` features
    and give one output per trained model column."""
    has = fields.value(manifest, "has_booster", list)
    trained = learner.trained_
    if len(has) != trained.shape[0] or [bool(h) for h in has] != trained.any(axis=1).tolist():
        raise fields.fail("has_booster", "must say, per member, whether any model was trained")
    probe = np.zeros((1, learner.n_features_in_), dtype=np.float32)
    boosters: list[xgb.Booster | None] = []
    for b, present in enumerate(has):
        if not present:
            boosters.append(None)
            continue
        blob = f"booster_{b:04d}.ubj"
        if blob not in fields.stored.blobs:
            raise fields.fail(blob, "missing")
        try:
            booster = xgb.Booster(params={"nthread": 1},
                                  model_file=bytearray(fields.stored.blobs[blob]))
            features = booster.num_features()
            outputs = (booster.inplace_predict(probe).size
                       if features == learner.n_features_in_ else -1)
        except (xgb.core.XGBoostError, ValueError) as exc:
            raise fields.fail(blob, f"not an XGBoost model ({str(exc).splitlines()[0]})"
                              ) from None
        if features != learner.n_features_in_ or outputs != trained[b].sum():
            raise fields.fail(blob, f"reads {features} features and gives {outputs} "
                              f"outputs; expected {learner.n_features_in_} (n_features_in) "
                              f"and {int(trained[b].sum())}")
        boosters.append(booster)
    return boosters
