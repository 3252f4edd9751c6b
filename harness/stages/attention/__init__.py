"""The attention stage: capture, check and read every attention map."""
