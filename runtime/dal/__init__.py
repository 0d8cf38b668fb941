"""Data access: the jobs table, the results table and the bucket's objects."""
