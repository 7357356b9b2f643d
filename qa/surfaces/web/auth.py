"""The editors' credentials: one bearer token (``QA_ADMIN_TOKEN``) for the ingestion API, and a
signed session cookie for the editors' page.

Unset token: everything behind it answers 404, never open. Tokens are compared in constant
time. The session cookie is ``<issued>.<HMAC(token, issued)>`` (HttpOnly, SameSite=Strict; it
dies with the token), and each form carries a CSRF value derived from the session.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SESSION_COOKIE = "qa_admin"
SESSION_SECONDS = 12 * 3600


class AdminAuth:
    def __init__(self, token: str) -> None:
        self._key = token.encode("utf-8")

    @property
    def enabled(self) -> bool:
        return bool(self._key)

    def token_ok(self, given: str) -> bool:
        return self.enabled and hmac.compare_digest(given.encode("utf-8"), self._key)

    def bearer_ok(self, authorization: str | None) -> bool:
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(value.strip())

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def new_session(self, now: float | None = None) -> str:
        issued = str(int(now if now is not None else time.time()))
        return f"{issued}.{self._sign('session:' + issued)}"

    def session_ok(self, cookie: str | None, now: float | None = None) -> bool:
        if not self.enabled or not cookie:
            return False
        issued, _, sig = cookie.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(sig, self._sign("session:" + issued)):
            return False
        age = (now if now is not None else time.time()) - int(issued)
        return 0 <= age <= SESSION_SECONDS

    def csrf(self, cookie: str) -> str:
        return self._sign("csrf:" + cookie)

    def csrf_ok(self, cookie: str | None, value: str) -> bool:
        return bool(cookie) and hmac.compare_digest(value, self.csrf(cookie or ""))


__all__ = ["SESSION_COOKIE", "AdminAuth"]
