"""Transports: the ways a STOMP session's bytes travel.

`tcp` carries STOMP over a plain TCP connection (backends, stomp.py, a terminal); `auth`
holds the twisted.cred checkers every transport uses for logins. The HTTP transports of
later parts carry the same `comet_core.stomp.session.ServerSession` to a browser.
"""
