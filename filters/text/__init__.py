"""Shared text machinery (sentences, the risk model's features and scoring), owned by no filter."""
