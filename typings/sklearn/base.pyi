from collections.abc import Iterable
from typing import Self

class BaseEstimator:
    def get_params(self, deep: bool = True) -> dict[str, object]: ...
    def set_params(self, **params: object) -> Self: ...

class TransformerMixin:
    def fit_transform(self, X: Iterable[object], y: object = None,
                      **fit_params: object) -> object: ...
