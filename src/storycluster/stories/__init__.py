"""Stories: grouping articles that report one event, keeping the grouping current, wire copies, evaluation.

scikit-learn and the clustering load only where stories are built or scored, never for a query.
"""
