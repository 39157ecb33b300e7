"""Every learner and featuriser by name, and where each class lives.

The one registry of the predictor's parts. It names classes by import path instead of
importing them, so the command's choices, the app's lists and `RunConfig.check` derive from
it without loading scikit-learn or XGBoost (`optllm --help` stays fast). Adding a learner is
one line here plus its class.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from optllm.exceptions import ConfigError


@dataclass(frozen=True)
class Entry:
    """A registered class: its name in commands and files, and `module:Class`."""

    name: str
    path: str
    description: str

    def load(self) -> type:
        """The class itself (imports its module on first use)."""
        module, _, attribute = self.path.partition(":")
        cls: type = getattr(importlib.import_module(module), attribute)
        return cls


def _by_name(*entries: Entry) -> dict[str, Entry]:
    return {entry.name: entry for entry in entries}


LEARNERS: dict[str, Entry] = _by_name(
    Entry("xgboost", "optllm.predict.xgboost:BootstrapXGBoostPredictor",
          "bootstrap ensemble of XGBoost classifiers, the paper's learner"),
    Entry("logistic", "optllm.predict.learners:LogisticPredictor",
          "one L2 logistic regression per model, strength by cross-validation"),
    Entry("knn", "optllm.predict.learners:KNNPredictor",
          "success rate of the nearest labelled queries, k by cross-validation"),
    Entry("group-rate", "optllm.predict.rates:GroupRatePredictor",
          "per group of the extra columns' values, each model's rate shrunk toward its overall "
          "rate"),
    Entry("cluster-rate", "optllm.predict.rates:ClusterRatePredictor",
          "per k-means cluster of the texts, each model's rate shrunk toward its overall rate"),
    Entry("prior", "optllm.predict.learners:PriorPredictor",
          "each model's base rate on the labelled queries"),
)
#: In the order the command and the app list them; "none" is the prior's and is not offered.
FEATURISERS: dict[str, Entry] = _by_name(
    Entry("tfidf", "optllm.predict.features:TfidfFeaturiser", "sparse word 1-2-gram TF-IDF"),
    Entry("char-tfidf", "optllm.predict.features:CharTfidfFeaturiser",
          "sparse character 2-5-gram TF-IDF"),
    Entry("word+char", "optllm.predict.features:WordCharFeaturiser",
          "word and character TF-IDF side by side"),
    Entry("tfidf-svd", "optllm.predict.features:TfidfSvdFeaturiser",
          "word TF-IDF reduced to dense components by truncated SVD"),
    Entry("none", "optllm.predict.features:NoFeatures", "no features (the prior needs none)"),
)
HIDDEN_FEATURISERS = ("none",)
DEFAULT_FEATURISER = "tfidf-svd"

#: What a run accepts: "auto" (optllm.predict.select chooses) or a registered name.
LEARNER_CHOICES: tuple[str, ...] = ("auto", *LEARNERS)
FEATURISER_CHOICES: tuple[str, ...] = (
    "auto", *(name for name in FEATURISERS if name not in HIDDEN_FEATURISERS))


def learner_class(name: str) -> type:
    """The learner class registered as `name`; ConfigError listing the names otherwise."""
    return _class(LEARNERS, name, "learner")


def featuriser_class(name: str) -> type:
    """The featuriser class registered as `name`; ConfigError listing the names otherwise."""
    return _class(FEATURISERS, name, "featuriser")


def registered_name(estimator: object, registry: dict[str, Entry]) -> str:
    """The name `estimator`'s exact class (not a subclass) is registered under."""
    for name, entry in registry.items():
        if type(estimator) is entry.load():
            return name
    raise TypeError(f"{type(estimator).__name__} is not a registered class")


def _class(registry: dict[str, Entry], name: str, kind: str) -> type:
    if name not in registry:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of {', '.join(registry)}")
    return registry[name].load()
