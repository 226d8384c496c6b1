"""Data: ingest, clean, split, explore, and the preprocessing shipped inside the model."""
