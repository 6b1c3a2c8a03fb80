"""Errors shared by every layer (configuration problems are reported the same way everywhere)."""


class ConfigError(Exception):
    """Configuration is invalid; the message names the bad key(s) and what is wrong."""
