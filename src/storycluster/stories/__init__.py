"""Stories: grouping articles that report one event, keeping the grouping current, wire copies, evaluation.

The clustering (and numba's kernels) load only where stories are built, never for a query; scikit-learn only
where they are scored against labels (``evaluation.py``).
"""
