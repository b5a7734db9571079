"""Who is using the app and what they may do.

Local mode (the secrets hold no ``[auth]`` section): the single-user tool for one machine; the
person is the operating-system user and may do everything. Team mode (``[auth]`` present):
Streamlit's own sign-in (``st.login``, OpenID Connect) and roles from a ``[roles]`` section of
the secrets, each a list of e-mail addresses::

    [roles]
    approver = ["secretary@agency.go.kr"]        # records the committee's decisions
    officer = ["kim@agency.go.kr", "lee@agency.go.kr"]   # prepares and saves scenarios
    viewer = ["auditor@agency.go.kr"]            # reads

A visitor who is not signed in sees the sign-in page and nothing else; a signed-in address on
no list is refused. Every action that changes the record goes through :func:`require`, so a
button that is not shown is not the only guard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st

from app_pages.i18n import t
from evaluator.roles import ROLES, local_user, role_of  # noqa: F401 (ROLES: the roles' one home)

#: What each role may do. ``local`` is the single user of local mode.
PERMISSIONS = {
    "approver": frozenset({"edit", "save", "decide", "audit"}),
    "officer": frozenset({"edit", "save"}),
    "viewer": frozenset(),  # reads: no edit of the working copy, no draft, no save, no decision
    "local": frozenset({"edit", "save", "decide", "audit"}),
}


class NotAllowed(Exception):
    """The signed-in person's role does not allow the action (the message is for them)."""


@dataclass(frozen=True)
class Identity:
    """The person using this session.

    Attributes
    ----------
    mode : {'local', 'team'}
    who : str
        The signed-in e-mail address (team) or the operating-system user (local).
    name : str
        The name the identity provider gives (team), else ``who``.
    role : str
        ``approver``, ``officer`` or ``viewer`` (team), ``local`` (local mode).
    """

    mode: str
    who: str
    name: str
    role: str

    def may(self, action: str) -> bool:
        return action in PERMISSIONS.get(self.role, frozenset())

    @property
    def slot(self) -> str:
        """The key of this person's working draft in the store."""
        return f"{self.mode}:{self.who}"

    @property
    def label(self) -> str:
        """How the record names this person: ``Name <e-mail> (role)`` in team mode."""
        if self.mode == "local":
            return self.who
        name = f"{self.name} <{self.who}>" if self.name and self.name != self.who else self.who
        return f"{name} ({self.role})"


def _secrets_section(name: str) -> Mapping | None:
    try:
        return st.secrets[name] if name in st.secrets else None
    except (FileNotFoundError, KeyError, OSError, ValueError):  # no secrets file: local mode
        return None


def team_mode() -> bool:
    """True when the secrets hold Streamlit's ``[auth]`` section."""
    return _secrets_section("auth") is not None


def current() -> Identity | None:
    """This session's person; None in team mode when nobody is signed in or the address is on
    no list (or the provider says it is not verified)."""
    if not team_mode():
        return Identity("local", local_user(), local_user(), "local")
    user = st.user
    if not user.get("is_logged_in"):
        return None
    email = user.get("email")
    if user.get("email_verified") is False:
        return None
    role = role_of(email, _secrets_section("roles"))
    if role is None:
        return None
    return Identity("team", str(email).strip().lower(), str(user.get("name") or email), role)


def require(action: str) -> Identity:
    """This session's person, when allowed to ``action``; raises :class:`NotAllowed` otherwise.

    Called on the code path of every action that changes the record, not only where a button is
    drawn."""
    who = current()
    if who is None or not who.may(action):
        raise NotAllowed(t("not_allowed", action=t(f"action_{action}")))
    return who


def read_only() -> bool:
    """True when this session's person may not change their working copy (a viewer): the pages
    draw their inputs disabled or not at all, and the writers refuse (:func:`require` ``edit``)."""
    who = current()
    return who is None or not who.may("edit")


def _login() -> None:
    auth = _secrets_section("auth") or {}
    # ``[auth]`` with its own client_id is the default provider; else the first named one ([auth.x])
    named = [k for k, v in auth.items() if isinstance(v, Mapping)]
    st.login() if "client_id" in auth or not named else st.login(named[0])


def gate() -> Identity:
    """Call first on every run: in team mode, the sign-in page for a visitor and a refusal for an
    address on no list (each ends the run before any application data is read); the identity
    otherwise. A session whose person changed forgets the previous person's state."""
    ss = st.session_state
    who = current()
    if who is None:
        st.radio(t("language"), ["en", "ko"], key="lang", horizontal=True,
                 format_func=lambda v: {"en": "English", "ko": "한국어"}[v])
        st.title(t("app_title"))
        user = st.user
        if user.get("is_logged_in"):
            st.error(t("sign_in_refused", email=str(user.get("email") or "")))
            st.button(t("sign_out"), key="sign_out", on_click=st.logout)
        else:
            st.info(t("sign_in_needed"))
            st.button(t("sign_in"), key="sign_in", type="primary", on_click=_login)
        st.stop()
    if ss.get("identity_slot") not in (None, who.slot):
        for k in list(ss.keys()):
            del ss[k]
    if who.mode == "team" and ss.get("identity_slot") is None:
        _enter_roster(who)
    ss["identity_slot"] = who.slot
    return who


def _enter_roster(who: Identity) -> None:
    """Once a session: the ``[roles]`` lists entered in the store's audit trail when they differ
    from the ones it knows, so that the store (and the CLI's ``scenario decide``) knows the team's
    approvers (:mod:`evaluator.roles`)."""
    from app_pages import state
    from evaluator.roles import record_roster
    from evaluator.store import ScenarioStore, StoreError

    try:
        record_roster(ScenarioStore(state.store_path()), _secrets_section("roles"), who.label)
    except StoreError as exc:  # said on the page that shows the store's faults
        st.session_state["audit_error"] = str(exc)


def sidebar(who: Identity) -> None:
    """Who is signed in, and the sign-out button (team mode)."""
    if who.mode == "team":
        # in a code span: an address is shown as typed (no link, no emphasis)
        st.caption(t("signed_in_as", who=who.who.replace("`", "'"), role=t(f"role_{who.role}")))
        st.button(t("sign_out"), key="sign_out", on_click=st.logout)
    else:
        st.caption(t("local_mode", who=who.who.replace("`", "'")))


def audit(action: str, **detail) -> None:
    """Enter ``action`` by this session's person in the store's audit trail. A store that cannot
    be written is reported in ``audit_error`` (the page shows it), not raised."""
    from app_pages import state
    from evaluator.store import ScenarioStore, StoreError

    who = current()
    if who is None:
        return
    try:
        ScenarioStore(state.store_path()).audit(who.label, action, detail)
        st.session_state.pop("audit_error", None)
    except StoreError as exc:
        st.session_state["audit_error"] = str(exc)
