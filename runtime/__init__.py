"""Lambda code of the financial pipeline: upload, processor, status, results and sweeper."""
