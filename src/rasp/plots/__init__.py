"""Figures and tables built from result files (never from models)."""
