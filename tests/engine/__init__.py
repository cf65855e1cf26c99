"""Tests of longread.engine: the backends, prompts, answers and the model cache."""
