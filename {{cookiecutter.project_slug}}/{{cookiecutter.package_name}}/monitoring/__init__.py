"""Monitoring: the prediction log the service writes, and the drift check that reads it."""
