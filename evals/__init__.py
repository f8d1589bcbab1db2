"""Evaluation harness: gold questions and answer-accuracy metrics for the assistant."""
