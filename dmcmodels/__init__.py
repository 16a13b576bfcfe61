"""dmcmodels: torch models (TCN, Wave-U-Net, DMC controller), losses, metrics and trainers."""
