# The parts of scikit-learn OptLLM's classes build on, typed (scikit-learn ships no type
# hints): with them mypy checks that every featuriser and learner meets its protocol in
# optllm.predict.base. Modules not stubbed here stay unchecked (pyproject.toml [tool.mypy]).

__version__: str
