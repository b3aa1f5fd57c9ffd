"""Data: the tutorial's, seeded; CSV and ``.npy`` files; demo data per model; bundled datasets."""

from ._datasets import DATASETS as DATASETS
from ._datasets import MODEL_LAYOUTS as MODEL_LAYOUTS
from ._datasets import Dataset as Dataset
from ._datasets import dataset as dataset
from ._datasets import dataset_for_model as dataset_for_model
from ._synthetic import synthetic as synthetic
from ._tutorial import load as load
from ._tutorial import tutorial as tutorial

__all__ = [
    "DATASETS",
    "MODEL_LAYOUTS",
    "Dataset",
    "dataset",
    "dataset_for_model",
    "load",
    "synthetic",
    "tutorial",
]
