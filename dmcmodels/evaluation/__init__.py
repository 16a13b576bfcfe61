"""Evaluation of trained models against baselines: tables in the thesis layouts, audio examples."""
