"""Rectified flow (flow.py), frame conditioning (conditioning.py), samplers and guidance."""
