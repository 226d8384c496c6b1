"""Model: training with cross-validation and search, validation with quality gates."""
