"""comet_core: a Comet server and STOMP broker on Twisted, built step by step."""

__version__ = "0.1.0"
