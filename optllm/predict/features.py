"""Query-text featurisers: TF-IDF, optionally reduced to a small dense matrix by truncated SVD.

Registry (`make_featuriser`): "tfidf" (sparse word 1-2-grams), "char-tfidf" (character
2-5-grams within word boundaries, for logs, code and ids), "word+char" (both side by side) and
"tfidf-svd" (word TF-IDF projected to ~100 dense columns, for gradient boosting). Sentence
embeddings would be a natural optional extra (a heavy dependency); they are not included.

Every featuriser is a scikit-learn transformer (`fit(texts)`, `transform(texts)`,
`fit_transform`), so `clone` and `Pipeline` work. TF-IDF is unsupervised: fit it on every query
you have (labelled and to-allocate). Text shared by all queries, such as a few-shot prompt
prefix and a fixed question suffix, carries no signal and swamps the TF-IDF weights, so the
longest common prefix and suffix seen at fit time are stripped before featurising.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from optllm.data.texts import common_prefix, shared_prefix
from optllm.exceptions import ConfigError, NotFittedError
from optllm.predict.base import Featuriser
from optllm.predict.registry import (
    DEFAULT_FEATURISER,
    FEATURISER_CHOICES,
    HIDDEN_FEATURISERS,
    featuriser_class,
)
from optllm.progress import ShouldStop, check_cancelled, checked

# Rows transformed at once: bounds the sparse intermediate for million-query corpora.
_TRANSFORM_BATCH = 50_000

#: Characters of each text (after the common affixes are stripped) that character n-grams
#: are taken from. Their cost grows with the text (about four n-grams per character), and
#: past the opening few hundred characters they add little a word n-gram does not: on
#: 12,000 exam questions of ~1,000 characters they took 80% of `auto`'s time.
CHAR_PREFIX = 300


def as_texts(texts: Iterable[object]) -> list[str]:
    """The texts as a list of str; missing values (None, NaN) become empty strings."""
    return pd.Series(list(texts), dtype=object).fillna("").astype(str).tolist()


def common_affixes(texts: list[str]) -> tuple[str, str]:
    """Longest prefix and suffix shared by all `texts`, cut at whitespace so no word is split.

    The prefix ends with, and the suffix starts with, a whitespace character (or is empty).
    The suffix is searched after the prefix is removed, so the two never overlap. Fewer than
    two texts share nothing by definition.

    >>> common_affixes(["Q: is a? A:", "Q: is bb? A:"])
    ('Q: is ', ' A:')
    """
    if len(texts) < 2:
        return "", ""
    prefix = shared_prefix(texts)
    reversed_rest = [t[len(prefix):][::-1] for t in texts]
    tail = re.search(r"\s.*", common_prefix(reversed_rest)[::-1], re.S)
    return prefix, (tail.group(0) if tail else "")


def strip_affixes(texts: list[str], prefix: str, suffix: str) -> list[str]:
    """`texts` without `prefix` and `suffix` where a text carries them; other texts unchanged."""
    if prefix:
        texts = [t[len(prefix):] if t.startswith(prefix) else t for t in texts]
    if suffix:
        texts = [t[: -len(suffix)] if t.endswith(suffix) else t for t in texts]
    return texts


def distinct_texts(texts: list[str]) -> tuple[np.ndarray, list[str]]:
    """(codes, distinct): each text's index into the distinct texts, in order of first
    appearance. Batches repeat queries (log templates, FAQs): each distinct text is then
    vectorised once.

    >>> distinct_texts(["a", "b", "a"])
    (array([0, 1, 0]), ['a', 'b'])
    """
    codes, distinct = pd.factorize(np.asarray(texts, dtype=object))
    return codes, list(distinct)


class TfidfFeaturiser(TransformerMixin, BaseEstimator):
    """Sparse word n-gram TF-IDF (sublinear tf) of the query text after common-affix removal.

    A document is a distinct text: the vocabulary and the idf weights are learnt once per
    distinct text, so a text repeated a thousand times (a log template) counts as one
    document, and each distinct text is vectorised once.

    Parameters
    ----------
    ngram_range, max_features, min_df
        Passed to `sklearn.feature_extraction.text.TfidfVectorizer`.
    fit_sample
        When more texts than this are given to `fit`, the vocabulary and idf are learnt on a
        seeded random sample of this size (the common affixes still come from all texts).
    random_state
        Seed of that sample.

    Fitted attributes: `prefix_`, `suffix_`, `vectorizer_`, `n_features_out_`.
    `transform` returns a CSR float32 matrix of shape (n_texts, n_features_out_).
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), max_features: int | None = 50_000,
                 min_df: int | float = 1, fit_sample: int = 100_000,
                 random_state: int | None = 0) -> None:
        self.ngram_range = ngram_range
        self.max_features = max_features
        self.min_df = min_df
        self.fit_sample = fit_sample
        self.random_state = random_state

    def fit(self, texts: Iterable[object], y: object = None, *,
            should_stop: ShouldStop | None = None) -> Self:
        """Learn the common affixes, the vocabulary and the idf weights; returns self.
        `should_stop` is checked every thousand texts (raises `Cancelled`)."""
        self._fit_tfidf(as_texts(texts), should_stop)
        return self

    def fit_transform(self, texts: Iterable[object], y: object = None, *,
                      should_stop: ShouldStop | None = None) -> sp.csr_matrix:
        """`fit`, then the TF-IDF rows of `texts`: vectorised once when all of them were
        fitted on (no more than `fit_sample`), as `transform` would give them."""
        texts = as_texts(texts)
        matrix = self._fit_tfidf(texts, should_stop)
        if len(texts) > self.fit_sample:
            return self.transform(texts, should_stop=should_stop)
        return sp.csr_matrix(matrix, dtype=np.float32)

    def transform(self, texts: Iterable[object], *, should_stop: ShouldStop | None = None
                  ) -> sp.csr_matrix:
        """TF-IDF rows of `texts`, in batches; `should_stop` as in `fit`."""
        texts = self._prepare(texts)
        if not texts:
            return sp.csr_matrix((0, self.n_features_out_), dtype=np.float32)
        return sp.vstack([self._vectorise(texts[i:i + _TRANSFORM_BATCH], should_stop)
                          for i in range(0, len(texts), _TRANSFORM_BATCH)], format="csr")

    def _vectorise(self, texts: list[str], should_stop: ShouldStop | None) -> sp.csr_matrix:
        codes, distinct = distinct_texts(texts)
        return self.vectorizer_.transform(checked(distinct, should_stop, "features"))[codes]

    def _fit_tfidf(self, texts: list[str], should_stop: ShouldStop | None = None
                   ) -> sp.csr_matrix:
        """Fit affixes and TF-IDF; return the TF-IDF matrix of the texts it was fitted on."""
        if not texts:
            raise ConfigError("cannot fit a featuriser on zero texts")
        self.prefix_, self.suffix_ = common_affixes(texts)
        if len(texts) > self.fit_sample:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(len(texts), size=self.fit_sample, replace=False))
            texts = [texts[i] for i in rows]
        self.vectorizer_ = self._make_vectorizer()
        codes, distinct = distinct_texts(self._clip(strip_affixes(texts, self.prefix_,
                                                                  self.suffix_)))
        matrix = self.vectorizer_.fit_transform(checked(distinct, should_stop, "features"))
        self.n_features_out_ = matrix.shape[1]
        return matrix[codes]

    def _make_vectorizer(self) -> TfidfVectorizer:
        """Word n-grams; single-character words count (ids, numbers and code tokens)."""
        return TfidfVectorizer(ngram_range=self.ngram_range, max_features=self.max_features,
                               min_df=self.min_df, token_pattern=r"(?u)\b\w+\b",
                               sublinear_tf=True, dtype=np.float32)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "vectorizer_")

    def _prepare(self, texts: Iterable[object]) -> list[str]:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(texts) first")
        return self._clip(strip_affixes(as_texts(texts), self.prefix_, self.suffix_))

    def _clip(self, texts: list[str]) -> list[str]:
        """The part of each text that is featurised: all of it for word n-grams."""
        return texts


class TfidfSvdFeaturiser(TfidfFeaturiser):
    """TF-IDF reduced by truncated SVD to about `n_components` dense float32 columns.

    The default featuriser: a small dense matrix keeps gradient boosting fast. `n_components`
    is clamped to what the corpus allows (fewer than the vocabulary size and the number of
    fitted texts), so a tiny corpus still works; the width actually used is
    `n_components_`. Other parameters as in `TfidfFeaturiser`; `random_state` also seeds the
    randomized SVD.

    Fitted attributes: `prefix_`, `suffix_`, `vectorizer_`, `components_` (the SVD basis,
    (n_components_, TF-IDF width)), `n_components_`, `n_features_out_` (= `n_components_`).
    `transform` returns a C-contiguous float32 array of shape (n_texts, n_components_).
    """

    def __init__(self, n_components: int = 100, ngram_range: tuple[int, int] = (1, 2),
                 max_features: int | None = 50_000, min_df: int | float = 1,
                 fit_sample: int = 100_000, random_state: int | None = 0) -> None:
        super().__init__(ngram_range=ngram_range, max_features=max_features, min_df=min_df,
                         fit_sample=fit_sample, random_state=random_state)
        self.n_components = n_components

    def fit(self, texts: Iterable[object], y: object = None, *,
            should_stop: ShouldStop | None = None) -> Self:
        """Learn affixes, TF-IDF and the SVD basis; returns self. `should_stop` is checked
        while vectorising and before the SVD (which runs in one piece)."""
        self.__dict__.pop("components_", None)  # a failed refit must not look fitted
        matrix = self._fit_tfidf(as_texts(texts), should_stop)
        check_cancelled(should_stop, "features")
        if matrix.shape[1] < 2:
            raise ConfigError("truncated SVD needs at least 2 distinct words in the texts; "
                              "use the 'tfidf' featuriser for such a corpus")
        self.n_components_ = max(1, min(self.n_components, matrix.shape[1] - 1,
                                        matrix.shape[0] - 1))
        self.components_ = TruncatedSVD(n_components=self.n_components_,
                                        algorithm="randomized",
                                        random_state=self.random_state).fit(matrix).components_
        self.n_features_out_ = self.n_components_
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "components_")

    def fit_transform(self, texts: Iterable[object], y: object = None, *,
                      should_stop: ShouldStop | None = None) -> np.ndarray:
        """`fit`, then `transform` of the same texts."""
        texts = as_texts(texts)
        return self.fit(texts, should_stop=should_stop).transform(texts, should_stop=should_stop)

    def transform(self, texts: Iterable[object], *, should_stop: ShouldStop | None = None
                  ) -> np.ndarray:
        """SVD coordinates of `texts`, computed in batches; `should_stop` as in `fit`."""
        texts = self._prepare(texts)
        out = np.empty((len(texts), self.n_components_), dtype=np.float32)
        for i in range(0, len(texts), _TRANSFORM_BATCH):
            chunk = self._vectorise(texts[i:i + _TRANSFORM_BATCH], should_stop)
            out[i:i + _TRANSFORM_BATCH] = chunk @ self.components_.T
        return out


class CharTfidfFeaturiser(TfidfFeaturiser):
    """Sparse character 2-5-gram TF-IDF (`char_wb`: n-grams inside word boundaries).

    For logs, code and identifiers, where the informative units are pieces of tokens
    (`<*>`-like placeholders, paths, numbers, camelCase) that word n-grams miss or split.
    Only the first `CHAR_PREFIX` characters of a text (after its common affixes) are used.
    Parameters, fitted attributes and output as in `TfidfFeaturiser`.
    """

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), max_features: int | None = 50_000,
                 min_df: int | float = 1, fit_sample: int = 100_000,
                 random_state: int | None = 0) -> None:
        super().__init__(ngram_range=ngram_range, max_features=max_features, min_df=min_df,
                         fit_sample=fit_sample, random_state=random_state)

    def _clip(self, texts: list[str]) -> list[str]:
        """The first `CHAR_PREFIX` characters of each text."""
        return [t[:CHAR_PREFIX] for t in texts]

    def _make_vectorizer(self) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char_wb", ngram_range=self.ngram_range,
                               max_features=self.max_features, min_df=self.min_df,
                               sublinear_tf=True, dtype=np.float32)


class WordCharFeaturiser(TransformerMixin, BaseEstimator):
    """Word 1-2-gram and character 2-5-gram TF-IDF side by side, rows scaled to unit norm.

    Lets one linear model use whole words where they carry the signal and word pieces where
    they do not. Each block is unit-norm, so dividing by sqrt(2) keeps rows unit-norm (cosine
    similarity stays a dot product). Parameters as in `TfidfFeaturiser`, for both blocks.

    Fitted attributes: `word_`, `char_` (the two featurisers), `n_features_out_`.
    `transform` returns a CSR float32 matrix of shape (n_texts, n_features_out_).
    """

    def __init__(self, max_features: int | None = 50_000, min_df: int | float = 1,
                 fit_sample: int = 100_000, random_state: int | None = 0) -> None:
        self.max_features = max_features
        self.min_df = min_df
        self.fit_sample = fit_sample
        self.random_state = random_state

    def fit(self, texts: Iterable[object], y: object = None, *,
            should_stop: ShouldStop | None = None) -> WordCharFeaturiser:
        """Fit both blocks on the same texts; returns self. `should_stop` as in
        `TfidfFeaturiser.fit`."""
        self.fit_blocks(texts, should_stop=should_stop)
        return self

    def fit_blocks(self, texts: Iterable[object], *, should_stop: ShouldStop | None = None
                   ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Fit both blocks; return each block's rows of `texts` (`TfidfFeaturiser
        .fit_transform`), for callers that use the word block on its own as well."""
        texts = as_texts(texts)

        def block(cls: type[TfidfFeaturiser]) -> TfidfFeaturiser:
            return cls(max_features=self.max_features, min_df=self.min_df,
                       fit_sample=self.fit_sample, random_state=self.random_state)

        self.word_, self.char_ = block(TfidfFeaturiser), block(CharTfidfFeaturiser)
        blocks = (self.word_.fit_transform(texts, should_stop=should_stop),
                  self.char_.fit_transform(texts, should_stop=should_stop))
        self.n_features_out_ = self.word_.n_features_out_ + self.char_.n_features_out_
        return blocks

    def fit_transform(self, texts: Iterable[object], y: object = None, *,
                      should_stop: ShouldStop | None = None) -> sp.csr_matrix:
        """Fit both blocks; return `texts` featurised, each text vectorised once."""
        return self.join(*self.fit_blocks(texts, should_stop=should_stop))

    @staticmethod
    def join(word: sp.csr_matrix, char: sp.csr_matrix) -> sp.csr_matrix:
        """The two blocks side by side, rows scaled back to unit norm."""
        both = sp.hstack([word, char], format="csr")
        return (both * np.float32(np.sqrt(0.5))).astype(np.float32)

    def transform(self, texts: Iterable[object], *, should_stop: ShouldStop | None = None
                  ) -> sp.csr_matrix:
        """Both blocks of `texts`, concatenated column-wise; `should_stop` as in `fit`."""
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(texts) first")
        texts = as_texts(texts)
        return self.join(self.word_.transform(texts, should_stop=should_stop),
                         self.char_.transform(texts, should_stop=should_stop))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "char_")


class NoFeatures(TransformerMixin, BaseEstimator):
    """The prior's featuriser: zero columns, one row per text (the prior uses no text)."""

    def fit(self, texts: Iterable[object], y: object = None, *,
            should_stop: ShouldStop | None = None) -> NoFeatures:
        self.n_features_out_ = 0
        return self

    def transform(self, texts: Iterable[object], *, should_stop: ShouldStop | None = None
                  ) -> sp.csr_matrix:
        return sp.csr_matrix((len(as_texts(texts)), 0), dtype=np.float32)


def make_featuriser(name: str = DEFAULT_FEATURISER, **kw: object) -> Featuriser:
    """A new, unfitted featuriser by registry name (optllm.predict.registry), with `kw`."""
    if name in HIDDEN_FEATURISERS:
        raise ConfigError(f"unknown featuriser {name!r}; choose one of "
                          f"{', '.join(FEATURISER_CHOICES[1:])}")
    return featuriser_class(name)(**kw)
