"""What the pipeline decides; data access is handed in, so nothing here creates a client."""
