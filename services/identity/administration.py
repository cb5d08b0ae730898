"""Admin > Users, User Groups, Alert Groups, Settings and Integrations, as one unit of work
per request: the caller is checked as an administrator of their school (as the database
says now, not only their token), the change is made and announced in one transaction, and
each change to a user is written to the school's security log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.identity import (
    access,
    alert_groups,
    integrations,
    mis_staff,
    password_reset,
    second_factors,
    user_groups,
    users,
)
from services.identity import security_log as slog
from services.identity import settings as school_settings
from services.identity.events import OutboxPublisher
from services.identity.models import Account, IntegrationClient, SecurityLogEntry, UserGroup
from shared.context import Claims, current_request
from shared.db import Database, utcnow
from shared.errors import FailedPrecondition

NO_ACTIVE_MEMBERSHIP = "That user is deactivated: reactivate them first."


class Administration:
    def __init__(self, db: Database, publisher: OutboxPublisher,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.publisher = publisher
        self.clock = clock

    # ---- helpers ------------------------------------------------------------------------------

    def _today(self, session: Session, who: access.Caller, now: dt.datetime) -> dt.date:
        return now.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(who.school.time_zone)).date()

    @staticmethod
    def _log(session: Session, who: access.Caller, *, account_id: str, email: str,
             what: str, now: dt.datetime, event: str = slog.USER_CHANGED) -> None:
        request = current_request()
        slog.record(session, event=event, account_id=account_id, email=email,
                    school_id=who.school_id, at=now, client_ip=request.client_ip,
                    user_agent=request.user_agent,
                    detail=f"{what} by {who.account.display_name} ({who.account_id})")

    # ---- users ------------------------------------------------------------------------------

    def list_users(self, claims: Claims, *, deactivated: bool = False, query: str = "",
                   user_group_id: str = "") -> list[users.User]:
        with self.db.read() as session:
            who = access.admin(session, claims)
            return users.list_users(session, school_id=who.school_id, deactivated=deactivated,
                                    query=query, user_group_id=user_group_id)

    def get_user(self, claims: Claims, account_id: str
                 ) -> tuple[users.User, list[second_factors.Factor]]:
        with self.db.read() as session:
            who = access.admin(session, claims)
            user = users.get_user(session, school_id=who.school_id, account_id=account_id)
            return user, second_factors.factors_of(session, account_id)

    def mis_candidates(self, claims: Claims) -> list[mis_staff.Candidate]:
        now = self.clock()
        with self.db.read() as session:
            who = access.admin(session, claims)
            return mis_staff.candidates(session, school_id=who.school_id,
                                        today=self._today(session, who, now))

    def create_user(self, claims: Claims, *, email: str, user_group_id: str, mis_id: str = "",
                    display_name: str = "", job_title: str = "",
                    send_password_email: bool = False) -> users.User:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            membership, account = users.create_user(
                session, self.publisher, school_id=who.school_id, email=email,
                user_group_id=user_group_id, mis_id=mis_id, display_name=display_name,
                job_title=job_title, now=now, today=self._today(session, who, now),
                actor=who.account_id)
            self._log(session, who, account_id=account.id, email=account.email,
                      what="created" + (" from the MIS" if mis_id else ""), now=now)
            if send_password_email:
                password_reset.issue_link(session, self.publisher, account=account,
                                          school=who.school, now=now, actor=who.account_id,
                                          welcome=True)
            return users.get_user(session, school_id=who.school_id, account_id=account.id)

    def _change(self, claims: Claims, account_id: str, what: str,
                change: Callable[[Session, access.Caller, dt.datetime], object]
                ) -> users.User:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            change(session, who, now)
            user = users.get_user(session, school_id=who.school_id, account_id=account_id)
            self._log(session, who, account_id=user.account_id, email=user.email, what=what,
                      now=now)
            return user

    def deactivate(self, claims: Claims, account_id: str) -> users.User:
        return self._change(claims, account_id, "deactivated", lambda s, who, now:
                            users.deactivate(s, self.publisher, school_id=who.school_id,
                                             account_id=account_id,
                                             by_account_id=who.account_id, now=now,
                                             actor=who.account_id))

    def reactivate(self, claims: Claims, account_id: str, *, email: str,
                   user_group_id: str) -> users.User:
        return self._change(claims, account_id, "reactivated", lambda s, who, now:
                            users.reactivate(s, self.publisher, school_id=who.school_id,
                                             account_id=account_id, email=email,
                                             user_group_id=user_group_id, now=now,
                                             actor=who.account_id))

    def change_email(self, claims: Claims, account_id: str, email: str) -> users.User:
        return self._change(claims, account_id, "email changed", lambda s, who, now:
                            users.change_email(s, self.publisher, school_id=who.school_id,
                                               account_id=account_id, email=email, now=now,
                                               actor=who.account_id))

    def change_group(self, claims: Claims, account_id: str, user_group_id: str) -> users.User:
        return self._change(claims, account_id, "user group changed", lambda s, who, now:
                            users.change_group(s, self.publisher, school_id=who.school_id,
                                               account_id=account_id,
                                               user_group_id=user_group_id, now=now,
                                               actor=who.account_id))

    def set_alert_email(self, claims: Claims, account_id: str, alert_email: str
                        ) -> users.User:
        return self._change(claims, account_id, "alert email changed", lambda s, who, now:
                            users.set_alert_email(s, self.publisher, school_id=who.school_id,
                                                  account_id=account_id,
                                                  alert_email=alert_email, now=now,
                                                  actor=who.account_id))

    def send_password_email(self, claims: Claims, account_id: str) -> dt.datetime:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            user = users.get_user(session, school_id=who.school_id, account_id=account_id)
            if not user.active:
                raise FailedPrecondition(NO_ACTIVE_MEMBERSHIP)
            account = session.get(Account, account_id)
            link, _ = password_reset.issue_link(
                session, self.publisher, account=account, school=who.school, now=now,
                actor=who.account_id, welcome=account.password_hash is None)
            self._log(session, who, account_id=account.id, email=account.email,
                      what="password email sent", now=now,
                      event=slog.PASSWORD_RESET_REQUESTED)
            return link.expires_at

    def remove_second_factors(self, claims: Claims, account_id: str, *, confirmed: bool
                              ) -> int:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            account, removed = users.remove_second_factors(
                session, school_id=who.school_id, account_id=account_id, confirmed=confirmed,
                now=now)
            self._log(session, who, account_id=account.id, email=account.email,
                      what=f"{removed} second factor(s) removed", now=now,
                      event=slog.SECOND_FACTORS_REMOVED)
            return removed

    def security_log(self, claims: Claims, *, account_id: str = "",
                     unknown_emails: bool = False, limit: int = 0,
                     before: dt.datetime | None = None) -> list[SecurityLogEntry]:
        with self.db.read() as session:
            who = access.admin(session, claims)
            if account_id:
                users.get_user(session, school_id=who.school_id, account_id=account_id)
            rows = slog.entries(session, school_id=who.school_id, account_id=account_id,
                                unknown_emails=unknown_emails, limit=limit, before=before)
            session.expunge_all()
            return rows

    # ---- user groups ------------------------------------------------------------------------

    def list_groups(self, claims: Claims) -> list[user_groups.GroupSummary]:
        with self.db.read() as session:
            who = access.admin(session, claims)
            return user_groups.list_groups(session, school_id=who.school_id)

    def _group_summary(self, session: Session, school_id: str, group: UserGroup
                       ) -> user_groups.GroupSummary:
        return next(g for g in user_groups.list_groups(session, school_id=school_id)
                    if g.id == group.id)

    def create_group(self, claims: Claims, *, name: str, key_holder: bool,
                     permissions: Iterable[str]) -> user_groups.GroupSummary:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            group = user_groups.create_group(
                session, self.publisher, school_id=who.school_id, name=name,
                key_holder=key_holder, permissions=permissions, now=now, actor=who.account_id)
            return self._group_summary(session, who.school_id, group)

    def update_group(self, claims: Claims, *, user_group_id: str, name: str, key_holder: bool,
                     permissions: Iterable[str]) -> user_groups.GroupSummary:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            group = user_groups.update_group(
                session, self.publisher, school_id=who.school_id, user_group_id=user_group_id,
                name=name, key_holder=key_holder, permissions=permissions, now=now,
                actor=who.account_id)
            return self._group_summary(session, who.school_id, group)

    def delete_group(self, claims: Claims, user_group_id: str) -> None:
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            user_groups.delete_group(session, self.publisher, school_id=who.school_id,
                                     user_group_id=user_group_id, actor=who.account_id)

    # ---- alert groups -----------------------------------------------------------------------

    def list_alert_groups(self, claims: Claims) -> list[alert_groups.AlertGroupView]:
        """Anyone of the school may see them: staff pick alert groups on incidents."""
        with self.db.read() as session:
            who = access.caller(session, claims)
            return alert_groups.list_groups(session, school_id=who.school_id)

    def _alert_view(self, session: Session, school_id: str, group_id: str
                    ) -> alert_groups.AlertGroupView:
        return next(g for g in alert_groups.list_groups(session, school_id=school_id)
                    if g.id == group_id)

    def create_alert_group(self, claims: Claims, *, name: str,
                           member_account_ids: Iterable[str] = (),
                           user_group_ids: Iterable[str] = ()) -> alert_groups.AlertGroupView:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            group = alert_groups.create(
                session, self.publisher, school_id=who.school_id, name=name,
                member_account_ids=member_account_ids, user_group_ids=user_group_ids,
                now=now, actor=who.account_id)
            return self._alert_view(session, who.school_id, group.id)

    def update_alert_group(self, claims: Claims, *, alert_group_id: str, name: str,
                           member_account_ids: Iterable[str] = (),
                           user_group_ids: Iterable[str] = ()) -> alert_groups.AlertGroupView:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            group = alert_groups.update(
                session, self.publisher, school_id=who.school_id,
                alert_group_id=alert_group_id, name=name,
                member_account_ids=member_account_ids, user_group_ids=user_group_ids,
                now=now, actor=who.account_id)
            return self._alert_view(session, who.school_id, group.id)

    def delete_alert_group(self, claims: Claims, alert_group_id: str) -> None:
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            alert_groups.remove(session, self.publisher, school_id=who.school_id,
                                alert_group_id=alert_group_id, actor=who.account_id)

    # ---- settings ---------------------------------------------------------------------------

    def get_settings(self, claims: Claims) -> school_settings.Settings:
        with self.db.read() as session:
            who = access.caller(session, claims)
            return school_settings.get(session, who.school_id)

    def update_settings(self, claims: Claims, *, email_domains: Iterable[str],
                        disable_missing_from_mis: bool, use_legal_names: bool,
                        idle_timeout_minutes: int) -> school_settings.Settings:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            before, after = school_settings.update(
                session, school_id=who.school_id, email_domains=email_domains,
                disable_missing_from_mis=disable_missing_from_mis,
                use_legal_names=use_legal_names, idle_timeout_minutes=idle_timeout_minutes,
                now=now, actor=who.account_id)
            if before.use_legal_names != after.use_legal_names:
                mis_staff.rename_for_setting(session, self.publisher, school_id=who.school_id,
                                             legal=after.use_legal_names, now=now,
                                             actor=who.account_id)
            return after

    # ---- integrations -----------------------------------------------------------------------

    def create_integration(self, claims: Claims, *, name: str, scope: str
                           ) -> tuple[IntegrationClient, str]:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            client, secret = integrations.create_client(
                session, school_id=who.school_id, name=name, scope=scope, now=now,
                actor=who.account_id)
            self._log(session, who, account_id=None, email="",
                      what=f"integration {client.id} ({client.scope}) created", now=now,
                      event=slog.INTEGRATION_CREATED)
            return client, secret

    def list_integrations(self, claims: Claims) -> list[IntegrationClient]:
        with self.db.read() as session:
            who = access.admin(session, claims)
            rows = integrations.list_clients(session, school_id=who.school_id)
            session.expunge_all()
            return rows

    def revoke_integration(self, claims: Claims, client_id: str) -> IntegrationClient:
        now = self.clock()
        with self.db.transaction() as session:
            who = access.admin(session, claims)
            client = integrations.revoke_client(session, school_id=who.school_id,
                                                client_id=client_id, now=now)
            self._log(session, who, account_id=None, email="",
                      what=f"integration {client.id} revoked", now=now,
                      event=slog.INTEGRATION_REVOKED)
            return client
