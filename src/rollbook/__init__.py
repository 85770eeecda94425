"""Rollbook: the directory of a school-family platform and the OneRoster sync that keeps it true."""

__version__ = "0.1.0"
