"""Models with a handwritten gradient: :class:`Model`, the tutorial's, and the rest of the series."""

from ._linear import LinearRegression as LinearRegression
from ._linear import linear_regression as linear_regression
from ._model import Model as Model

__all__ = ["LinearRegression", "Model", "linear_regression"]
