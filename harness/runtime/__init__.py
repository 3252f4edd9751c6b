"""Runtime: the forward pass, the device, the machine's environment."""
