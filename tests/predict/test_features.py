"""Featurisers: common-affix stripping, TF-IDF(+SVD) shapes and dtypes, registry, sklearn API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from optllm.exceptions import ConfigError, NotFittedError
from optllm.predict.features import (
    TfidfFeaturiser,
    TfidfSvdFeaturiser,
    common_affixes,
    make_featuriser,
    strip_affixes,
)
from optllm.predict.registry import DEFAULT_FEATURISER, FEATURISER_CHOICES

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
FEW_SHOT = "Answer yes or no.\n\nContext: the sky is blue.\nAnswer: yes\n\nContext: "
QUESTION = "\nIs it true?\nAnswer:"
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda omicron".split()


def few_shot_corpus(n: int = 40) -> list[str]:
    """n queries that share a few-shot prefix and a question suffix around a varying body."""
    return [f"{FEW_SHOT}{WORDS[i % 12]} {WORDS[(i * 5) % 12]} item{i}{QUESTION}"
            for i in range(n)]


@pytest.mark.parametrize(("texts", "expected"), [
    (["Q: is a? A:", "Q: is bb? A:"], ("Q: is ", " A:")),
    (["Hello world", "Hello there"], ("Hello ", "")),
    (["abc def", "abd def"], ("", " def")),  # "ab" is part of a word: not stripped
    (["same text", "same text"], ("same ", "")),  # never strips a whole text
    (["only one text here"], ("", "")),
    (["", "x y"], ("", "")),
])
def test_common_affixes_cut_at_whitespace(texts: list[str], expected: tuple[str, str]) -> None:
    assert common_affixes(texts) == expected


def test_strip_affixes_leaves_texts_without_them() -> None:
    out = strip_affixes(["P: a S", "other text", "P: b"], "P: ", " S")
    assert out == ["a", "other text", "b"]


def test_featuriser_strips_few_shot_prefix_and_suffix() -> None:
    texts = few_shot_corpus()
    fz = TfidfFeaturiser().fit(texts)
    assert fz.prefix_ == FEW_SHOT
    assert fz.suffix_ == QUESTION
    vocabulary = set(fz.vectorizer_.vocabulary_)
    assert not vocabulary & {"context", "sky", "blue", "true"}
    # transform strips the prefix too: a query equals its body alone
    body = texts[0][len(FEW_SHOT):-len(QUESTION)]
    assert (fz.transform([texts[0]]) != fz.transform([body])).nnz == 0


@pytest.mark.skipif(not (DATASETS / "overruling.csv").exists(), reason="shared data absent")
def test_overruling_few_shot_prefix_is_stripped() -> None:
    df = pd.read_csv(DATASETS / "overruling.csv", usecols=["query", "content"])
    fz = TfidfFeaturiser().fit(df["query"])
    assert len(fz.prefix_) > 1000
    stripped = strip_affixes(df["query"].tolist(), fz.prefix_, fz.suffix_)
    # `content` is the query without its few-shot prefix: Context: <body>\nQuestion: ...
    rebuilt = [" ".join(f"Context: {s}\nQuestion: Is it overruling?".split()) for s in stripped]
    assert rebuilt == [" ".join(c.split()) for c in df["content"]]


def test_svd_on_tiny_corpus_clamps_components() -> None:
    texts = few_shot_corpus(40)
    fz = TfidfSvdFeaturiser(n_components=100, random_state=0)
    Z = fz.fit_transform(texts)
    assert 1 <= fz.n_components_ <= 39
    assert Z.shape == (40, fz.n_components_)
    assert Z.dtype == np.float32 and Z.flags.c_contiguous
    assert np.isfinite(Z).all()
    np.testing.assert_array_equal(Z, TfidfSvdFeaturiser(random_state=0).fit_transform(texts))
    assert fz.transform([]).shape == (0, fz.n_components_)


def test_svd_keeps_requested_components_when_possible() -> None:
    Z = TfidfSvdFeaturiser(n_components=5).fit_transform(few_shot_corpus(40))
    assert Z.shape == (40, 5)


def test_fit_sample_fits_on_subset_and_transforms_all() -> None:
    texts = few_shot_corpus(60)
    full = TfidfFeaturiser().fit(texts)
    sampled = TfidfFeaturiser(fit_sample=10, random_state=1).fit(texts)
    assert sampled.n_features_out_ < full.n_features_out_
    assert sampled.prefix_ == FEW_SHOT  # affixes still come from every text
    assert sampled.transform(texts).shape == (60, sampled.n_features_out_)
    Z = TfidfSvdFeaturiser(n_components=4, fit_sample=10).fit(texts).transform(texts)
    assert Z.shape == (60, 4)


def test_tfidf_is_sparse_float32_unit_rows() -> None:
    M = TfidfFeaturiser().fit_transform(few_shot_corpus())
    assert sp.issparse(M) and M.format == "csr" and M.dtype == np.float32
    np.testing.assert_allclose(np.sqrt(M.multiply(M).sum(axis=1)).A1, 1.0, rtol=1e-5)
    assert TfidfFeaturiser().fit(["a b", "c d"]).transform([]).shape == (0, 6)


def test_transform_before_fit_raises() -> None:
    with pytest.raises(NotFittedError):
        TfidfSvdFeaturiser().transform(["text"])


def test_registry() -> None:
    assert FEATURISER_CHOICES == ("auto", "tfidf", "char-tfidf", "word+char", "tfidf-svd")
    assert DEFAULT_FEATURISER == "tfidf-svd"
    assert isinstance(make_featuriser(), TfidfSvdFeaturiser)
    fz = make_featuriser("tfidf", min_df=2)
    assert type(fz) is TfidfFeaturiser and fz.min_df == 2
    with pytest.raises(ConfigError, match="tfidf-svd"):
        make_featuriser("bert")


def test_clone_and_params() -> None:
    fz = TfidfSvdFeaturiser(n_components=7, ngram_range=(1, 1))
    twin = clone(fz)
    assert twin.get_params() == fz.get_params()
    assert twin.get_params()["n_components"] == 7
    fitted = fz.fit(few_shot_corpus())
    assert not hasattr(clone(fitted), "svd_")


def test_missing_texts_become_empty() -> None:
    fz = TfidfSvdFeaturiser(n_components=3).fit(few_shot_corpus())
    Z = fz.transform(pd.Series([None, np.nan, "alpha"]))
    assert Z.shape == (3, 3)
    np.testing.assert_array_equal(Z[0], 0.0)


def test_svd_needs_two_words_and_failed_fit_is_unfitted() -> None:
    fz = TfidfSvdFeaturiser()
    with pytest.raises(ConfigError, match="2 distinct words"):
        fz.fit(["word", "word"])
    with pytest.raises(NotFittedError):
        fz.transform(["word"])


@pytest.mark.parametrize("name", ["tfidf", "char-tfidf", "word+char", "tfidf-svd"])
def test_fit_transform_gives_what_transform_gives(name: str) -> None:
    texts = [f"query {i} about {'cats' if i % 3 else 'dogs'} and item{i % 7}" for i in range(60)]
    once = make_featuriser(name).fit_transform(texts)
    twice = make_featuriser(name).fit(texts).transform(texts)
    dense = [m.toarray() if sp.issparse(m) else m for m in (once, twice)]
    np.testing.assert_array_equal(*dense)


@pytest.mark.parametrize("name", ["tfidf", "char-tfidf", "word+char"])
def test_a_repeated_text_is_one_document(name: str) -> None:
    """A text repeated many times gets the same row each time and weighs in the idf once."""
    distinct = [f"query {i} about {'cats' if i % 3 else 'dogs'}" for i in range(30)]
    repeated = distinct + [distinct[0]] * 50
    a = make_featuriser(name).fit(distinct)
    b = make_featuriser(name).fit(repeated)
    np.testing.assert_array_equal(a.transform(distinct).toarray(),
                                  b.transform(distinct).toarray())
    rows = b.fit_transform(repeated).toarray()
    np.testing.assert_array_equal(rows[30:], np.repeat(rows[:1], 50, axis=0))


def test_character_ngrams_come_from_a_capped_prefix() -> None:
    head = "alpha beta gamma " * 30
    texts = [head + "tail" + str(i) for i in range(5)] + ["other words here", "more text"]
    featuriser = make_featuriser("char-tfidf").fit(texts)
    assert not any("tail" in gram for gram in featuriser.vectorizer_.vocabulary_)
    rows = featuriser.transform(texts)
    assert (rows[0] != rows[1]).nnz == 0  # the texts differ only past the prefix


def test_choosing_and_predicting_vectorise_each_text_once(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from optllm.predict.features import TfidfFeaturiser
    from optllm.predict.select import fit_predictor

    texts = [f"query {i} about {'cats' if i % 3 else 'dogs'}" for i in range(100)]
    Y = np.array([[i % 3 > 0, i % 2] for i in range(100)], dtype=np.int8)

    def no_second_pass(*args: object, **kwargs: object) -> None:
        raise AssertionError("texts vectorised again after fitting")

    monkeypatch.setattr(TfidfFeaturiser, "transform", no_second_pass)
    features: dict = {}
    rows = np.arange(40)
    fit_predictor(texts, rows, Y[rows], costs_train=np.tile([1.0, 2.0], (40, 1)),
                  learner="logistic", featuriser="word+char", n_bootstraps=2,
                  features_out=features)
    assert features["all"].shape[0] == 100
