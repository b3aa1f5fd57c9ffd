"""Example files for ``gdcheck check FILE.py`` (see ``linear_regression_check.py``)."""
