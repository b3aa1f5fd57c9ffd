"""Models with a handwritten gradient: :class:`Model`, the tutorial's, and the rest of the series."""

from ._linear import linear_regression as linear_regression
from ._logistic import logistic_regression as logistic_regression
from ._mlp import mlp as mlp
from ._model import Model as Model
from ._ridge import ridge as ridge
from ._softmax import softmax_regression as softmax_regression

__all__ = [
    "Model",
    "linear_regression",
    "logistic_regression",
    "mlp",
    "ridge",
    "softmax_regression",
]
