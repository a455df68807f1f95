"""A pull: requests built from a query, pagination, the page generator, time shards, cohorts, options and stats."""
