"""Signing in to a class from the browser, who is acting in this session, and the class dashboard's widgets.

With no class and LAB_AUTH unset the lab has one local user and nothing here shows. Otherwise app.py calls
``sign_in_gate()`` before the navigation: a visitor who is not signed in sees only the sign-in form (and, after a
one-time password, the form to choose their own). Pages hand ``current_actor()`` to every core call that changes
something; core checks ownership itself, so a hidden button is never the only guard.
"""

from __future__ import annotations

import streamlit as st

from core.classroom import accounts
from core.classroom.accounts import Actor
from core.ui.widgets import escape_markdown

ACTOR_KEY = "class.actor"
PENDING_KEY = "class.pending"  # signed in with a one-time password: a new one must be chosen first


def current_actor() -> Actor | None:
    """The signed-in account; the local user when the lab has no class; None when sign-in is on and nobody is
    signed in (core then refuses every change)."""
    actor = st.session_state.get(ACTOR_KEY)
    if actor is not None:
        return actor
    return None if accounts.auth_enabled() else accounts.LOCAL


def is_teacher() -> bool:
    actor = current_actor()
    return actor is not None and actor.is_teacher


def sign_in_gate() -> None:
    """Stop the script here, showing only the sign-in form, until this session is signed in (when sign-in is on).
    The form is the app's only page meanwhile: no navigation, no sidebar, a deep link lands on the form."""
    if st.session_state.get(ACTOR_KEY) is not None or not accounts.auth_enabled():
        return
    st.navigation([st.Page(_sign_in_page, title="Sign in", icon=":material/login:", url_path="sign-in")],
                  position="hidden").run()
    st.stop()


def _sign_in_page() -> None:
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("LLM Lifecycle Lab")
        if st.session_state.get(PENDING_KEY) is not None:
            _choose_password(st.session_state[PENDING_KEY])
        elif not accounts.has_class():
            st.info("Sign-in is on (LAB_AUTH=on) but this lab has no class yet. On the server, run "
                    "`python -m core class init`, then sign in with the account it prints.")
        else:
            _sign_in_form()


def _sign_in_form() -> None:
    with st.form("class.sign_in"):
        st.subheader("Sign in")
        name = st.text_input("Name", key="class.name", max_chars=100, autocomplete="username")
        password = st.text_input("Password", type="password", key="class.password", max_chars=100,
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    st.caption("No account yet, or forgot the password? Ask the teacher.")
    if submitted:
        try:
            actor, must_change = accounts.sign_in(name, password)
        except ValueError as err:  # a wrong password, a locked account, or a database that stayed busy or went away
            st.error(str(err))
            return
        st.session_state[PENDING_KEY if must_change else ACTOR_KEY] = actor
        st.rerun()


def _choose_password(actor: Actor) -> None:
    with st.form("class.choose_password"):
        st.subheader(f"Choose your password, {escape_markdown(actor.name)}")
        st.caption(f"The password you were given works once. At least {accounts.PASSWORD_MIN} characters.")
        new = st.text_input("New password", type="password", key="class.new_password", autocomplete="new-password")
        again = st.text_input("New password again", type="password", key="class.new_password_again",
                              autocomplete="new-password")
        submitted = st.form_submit_button("Save and continue", type="primary")
    if submitted:
        if new != again:
            st.error("The two passwords differ.")
            return
        try:
            accounts.change_password(actor, new)
        except ValueError as err:  # too short, too long, or the database stayed busy or went away
            st.error(str(err))
            return
        del st.session_state[PENDING_KEY]
        st.session_state[ACTOR_KEY] = actor
        st.rerun()


def account_box() -> None:
    """In the sidebar: who is signed in, and Sign out (nothing on a laptop with no class)."""
    actor = st.session_state.get(ACTOR_KEY)
    if actor is None:
        return
    st.caption(f"Signed in as **{escape_markdown(actor.name)}** ({actor.role})")
    if st.button("Sign out", key="class.sign_out", icon=":material/logout:"):
        for key in [k for k in st.session_state if isinstance(k, str) and not k.startswith("model.")]:
            del st.session_state[key]  # nothing of this person's stays in the session
        st.rerun()
