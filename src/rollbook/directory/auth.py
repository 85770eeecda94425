"""Sign-in for Rollbook administrators: by email, among active accounts only.

An email is unique among *active* accounts (an archived account may keep its old address), so
Django's default backend, which expects a globally unique user name, is replaced by this one.
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password

from .models import Account


class ActiveAccountBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        address = (email or username or "").strip().lower()
        if not address or password is None:
            return None
        account = Account.objects.filter(email=address, is_active=True).first()
        if account is None:
            make_password(password)  # same work either way: no timing hint that it exists
            return None
        if account.check_password(password) and self.user_can_authenticate(account):
            return account
        return None
