"""Who may record the committee's decision: the team's roles as the store knows them.

A team server reads its roles from the ``[roles]`` section of its secrets (lists of e-mail
addresses under ``approver``, ``officer``, ``viewer``: :mod:`app_pages.access`). The app enters
that roster in the store's audit trail (action ``roles``) whenever it differs from the one last
entered, so the store itself knows the team's identities and their roles, in its hash chain.
The command line has no sign-in: ``scenario decide --by ADDRESS`` is accepted only when the
address is an approver of the roster the store knows (:func:`decider`), and the decision is
recorded under the same label the app gives a signed-in approver.

A store that never saw a team server (local mode) knows one identity: the operating-system user
of this machine, who may decide (as in the app's local mode).
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping

from evaluator.errors import RecordStoreError

__all__ = ["ROLES", "ROSTER_ACTION", "DeciderError", "role_of", "roster", "local_user", "record_roster",
           "known_roster", "decider"]

#: Roles, most powerful first (an address on two lists gets the first).
ROLES = ("approver", "officer", "viewer")
#: The audit trail's action under which a roster is entered.
ROSTER_ACTION = "roles"


class DeciderError(RecordStoreError):
    """The named decider is not an identity the store knows with the approver role."""


def roster(roles: Mapping | None) -> dict[str, list[str]]:
    """The ``[roles]`` lists in one form: each role a sorted list of lower-case addresses."""
    out = {}
    for role in ROLES:
        listed = (roles or {}).get(role) or []
        if isinstance(listed, str):
            listed = [listed]
        out[role] = sorted({str(a).strip().lower() for a in listed if str(a).strip()})
    return out


def role_of(email: str | None, roles: Mapping | None) -> str | None:
    """The role of ``email`` under the ``[roles]`` lists (case-insensitive); None when on no list."""
    if not email or not roles:
        return None
    address = str(email).strip().lower()
    lists = roster(roles)
    return next((role for role in ROLES if address in lists[role]), None)


def local_user() -> str:
    """The operating-system user (the one identity of local mode)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return "local"


def known_roster(store) -> dict | None:
    """The roster last entered in ``store``'s audit trail: ``{"roles": {...}, "at", "by"}``; None
    when the store never saw a team server."""
    import json

    trail = store.audit_entries()
    entries = trail[trail["action"] == ROSTER_ACTION]
    if entries.empty:
        return None
    last = entries.iloc[-1]
    return {"roles": roster(json.loads(last["detail"]).get("roles")), "at": str(last["at"]), "by": str(last["who"])}


def record_roster(store, roles: Mapping | None, who: str) -> bool:
    """Enter ``roles`` in the audit trail under ``who`` unless it is the roster already known;
    True when entered."""
    lists = roster(roles)
    known = known_roster(store)
    if known is not None and known["roles"] == lists:
        return False
    store.audit(who, ROSTER_ACTION, {"roles": lists})
    return True


def decider(store, by: str | None) -> str:
    """The label a decision named by ``by`` is recorded under, when that identity may decide.

    Team store (a roster is known): ``by`` must be an address on the roster's ``approver`` list;
    the label is the app's for a signed-in approver without a name, ``address (approver)``.
    Local store (no roster): the operating-system user, whom ``by`` may name or leave out.

    Raises
    ------
    DeciderError
        Naming the rule and what the store knows.
    """
    known = known_roster(store)
    if known is None:
        user = local_user()
        if by is not None and str(by).strip().lower() != user.lower():
            raise DeciderError(
                f"decided by {by!r}: this store knows no team roles (no team server has used it), so its one "
                f"identity is this machine's user {user!r}; a decision is recorded only by an identity the store "
                f"knows with the approver role (leave out --by, or run the command as that user)")
        return user
    if not by or not str(by).strip():
        raise DeciderError("a decision in a team store needs --by, an approver's e-mail address on the store's roles")
    address = str(by).strip().lower()
    role = role_of(address, known["roles"])
    if role != "approver":
        said = "is on no list" if role is None else f"is listed as {role}"
        raise DeciderError(
            f"decided by {by!r}: that address {said} of the roles this store knows (entered {known['at']} by "
            f"{known['by']}); a decision is recorded only by an approver: "
            f"{', '.join(known['roles']['approver']) or 'none is listed'}")
    return f"{address} (approver)"
