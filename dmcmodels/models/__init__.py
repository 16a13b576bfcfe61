"""Torch models: the FiLM-conditioned effect networks (TCN, Wave-U-Net) and their building blocks."""
