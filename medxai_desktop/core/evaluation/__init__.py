"""Numbers about models and explanations: classification metrics, localisation, ROAD, statistics."""
