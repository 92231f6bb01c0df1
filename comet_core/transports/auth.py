"""Who may connect: twisted.cred checkers for the STOMP ``login`` and ``passcode`` headers.

The sans-IO session only exposes the credentials a CONNECT offered and waits for a verdict;
an adapter asks a twisted.cred `ICredentialsChecker`, the standard Twisted way to plug in
any user database. A CONNECT with a ``login`` header becomes `UsernamePassword` credentials
(an absent ``passcode`` is the empty password), one without becomes `Anonymous`.

- `AcceptEveryone` (the default) lets anybody in, with or without a login, as MorbidQ did.
- `password_checker` requires a login from a fixed table of users (an in-memory dict).
- `password_file_checker` reads ``user:password`` lines from a file
  (`twisted.cred.checkers.FilePasswordDB`), re-read when it changes.

Any other checker works too, for instance one that asks a web application's user table.

Failed logins are slowed down per client address (`comet_core.throttle.LoginThrottle`):
`throttled` wraps a checker with a throttle, and `check_login`, given the client's
address, refuses an address that failed too often without asking the checker. One
wrapped checker shared by every transport of a server shares one table of addresses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from twisted.cred.checkers import (
    ANONYMOUS,
    FilePasswordDB,
    ICredentialsChecker,
    InMemoryUsernamePasswordDatabaseDontUse,
)
from twisted.cred.credentials import (
    Anonymous,
    IAnonymous,
    ICredentials,
    IUsernamePassword,
    UsernamePassword,
)
from twisted.cred.error import UnauthorizedLogin, UnhandledCredentials
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from comet_core.throttle import LoginThrottle

log = Logger()


class TooManyFailures(UnauthorizedLogin):
    """An address failed to log in too often; it may try again in `wait` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"too many failed logins, wait {math.ceil(wait)} s")
        self.wait = wait


@implementer(ICredentialsChecker)
class ThrottledChecker:
    """A checker with a `LoginThrottle`: `check_login` consults it by client address."""

    def __init__(self, checker: ICredentialsChecker, throttle: LoginThrottle) -> None:
        self.checker = checker
        self.throttle = throttle
        self.credentialInterfaces = checker.credentialInterfaces

    def requestAvatarId(self, credentials: ICredentials) -> defer.Deferred[object]:  # noqa: N802
        return defer.maybeDeferred(self.checker.requestAvatarId, credentials)


def throttled(checker: ICredentialsChecker,
              throttle: LoginThrottle | None = None) -> ICredentialsChecker:
    """`checker` with failed logins slowed down per address (unchanged if it already is)."""
    if isinstance(checker, ThrottledChecker):
        return checker
    return ThrottledChecker(checker, throttle if throttle is not None else LoginThrottle())


@implementer(ICredentialsChecker)
class AcceptEveryone:
    """Accept any login and passcode, and no login at all (the avatar id is the login)."""

    credentialInterfaces = (IUsernamePassword, IAnonymous)

    def requestAvatarId(self, credentials: ICredentials) -> defer.Deferred[object]:
        if IUsernamePassword.providedBy(credentials):
            return defer.succeed(credentials.username)
        return defer.succeed(ANONYMOUS)


def password_checker(users: Mapping[str, str]) -> ICredentialsChecker:
    """A checker that lets in only these users, with these passwords (login required)."""
    checker = InMemoryUsernamePasswordDatabaseDontUse()
    for name, password in users.items():
        checker.addUser(name.encode(), password.encode())
    return checker


def password_file_checker(path: str | Path) -> ICredentialsChecker:
    """A checker reading ``user:password`` lines (plain text: keep the file private)."""
    return FilePasswordDB(str(path), cache=True)


def users_checker(path: Path | None) -> ICredentialsChecker | None:
    """The checker of a `--users FILE` option: None (anybody may connect) without one.

    Raises ValueError, with a message for the command line, when the file is missing.
    """
    if path is None:
        return None
    if not Path(path).is_file():
        raise ValueError(f"no users file at {path}")
    return password_file_checker(path)


def credentials_for(login: str | None, passcode: str | None) -> ICredentials:
    """The twisted.cred credentials a CONNECT's ``login``/``passcode`` headers stand for."""
    if login is None:
        return Anonymous()
    return UsernamePassword(login.encode(), (passcode or "").encode())


def check_login(checker: ICredentialsChecker, login: str | None,
                passcode: str | None, address: str | None = None) -> defer.Deferred[str | None]:
    """Ask `checker`; fires with the user name (None when anonymous) or fails.

    A checker that does not handle anonymous credentials (every password checker) turns a
    CONNECT without ``login`` into `UnauthorizedLogin`: that broker requires a login.
    With a `ThrottledChecker` and the client's `address` (its host), an address that failed
    too often fails at once with `TooManyFailures`, and each refusal counts against it.
    """
    throttle = getattr(checker, "throttle", None) if address is not None else None
    if throttle is not None:
        wait = throttle.wait(address)
        if wait > 0:
            return defer.fail(TooManyFailures(wait))
    credentials = credentials_for(login, passcode)
    if not any(iface.providedBy(credentials) for iface in checker.credentialInterfaces):
        what = "a login" if login is None else "this kind of login"
        d: defer.Deferred[object] = defer.fail(UnhandledCredentials(f"this broker requires {what}"))
    else:
        d = defer.maybeDeferred(checker.requestAvatarId, credentials)
    if throttle is not None:
        def count(failure: Failure) -> Failure:
            if failure.check(UnauthorizedLogin, UnhandledCredentials):
                throttle.failed(address)
            return failure

        d.addErrback(count)

    def name(avatar_id: object) -> str | None:
        if avatar_id is ANONYMOUS:
            return None
        if isinstance(avatar_id, bytes):
            return avatar_id.decode("utf-8", "replace")
        return str(avatar_id)

    return d.addCallback(name)


__all__ = ["AcceptEveryone", "ThrottledChecker", "TooManyFailures", "UnauthorizedLogin",
           "check_login", "credentials_for", "password_checker", "password_file_checker",
           "refusal", "throttled"]


def refusal(failure: Failure) -> tuple[str, str]:
    """The ERROR ``message`` and body for a login `check_login` refused."""
    if failure.check(TooManyFailures):
        wait = math.ceil(failure.value.wait)
        return (f"too many failed logins, wait {wait} s", (
            f"Too many failed logins came from your address; try again in {wait} seconds."))
    return "login refused", refusal_detail(failure)


def refusal_detail(failure: Failure) -> str:
    """What an ERROR frame tells a client whose login `check_login` refused (a checker that
    broke is logged here, and the client is only told to try again)."""
    if failure.check(TooManyFailures):
        return refusal(failure)[1]
    if failure.check(UnhandledCredentials):
        return "This broker requires a login and passcode."
    if failure.check(UnauthorizedLogin):
        return "The login and passcode were not accepted."
    log.failure("the login checker failed", failure)
    return "The login could not be checked; try again later."
