"""Intake: load the model, resolve every input it needs, and provide task samples."""
