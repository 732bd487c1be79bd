"""Analysis reads runs from the store and never calls a model: comparisons, history, gates, sequential checks."""
