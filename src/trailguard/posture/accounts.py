"""``--accounts FILE``: the accounts to check and the role to assume in each.

A TOML file::

    [[account]]
    id = "111122223333"
    role = "TrailguardAudit"            # a role name, or a full role ARN
    name = "production"                 # optional, shown in the report
    external_id = "..."                 # optional, if the role's trust policy asks for one
    regions = ["eu-west-1"]             # optional, overrides --regions for this account
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trailguard.errors import ConfigError

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/.+$")


class _Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    role: str = Field(min_length=1)
    name: str = ""
    external_id: str | None = None
    regions: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _twelve_digits(cls, value: str) -> str:
        if not _ACCOUNT_ID.match(value):
            raise ValueError("must be a 12-digit account id (as a string)")
        return value


class _AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: list[_Account] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class AccountTarget:
    """One account to check: its id, the role to assume (None: the caller's own
    credentials), and optional name, external id and regions."""

    account_id: str | None
    role_arn: str | None = None
    name: str = ""
    external_id: str | None = None
    regions: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        who = self.account_id or "current credentials"
        return f"{self.name} ({who})" if self.name else who


def role_arn(account_id: str, role: str) -> str:
    """A full role ARN from a role name, or the ARN itself (checked against the id)."""
    m = _ROLE_ARN.match(role)
    if m:
        if m.group(1) != account_id:
            raise ValueError(f"role {role} is not in account {account_id}")
        return role
    if role.startswith("arn:"):
        raise ValueError(f"not an IAM role ARN: {role}")
    return f"arn:aws:iam::{account_id}:role/{role.strip('/')}"


def load_accounts(path: Path) -> list[AccountTarget]:
    """The accounts of ``path``; ConfigError naming the file and the entry if invalid."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        parsed = _AccountsFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc
    out = []
    seen: set[str] = set()
    for i, a in enumerate(parsed.account):
        if a.id in seen:
            raise ConfigError(f"{path}: account.{i}.id: {a.id} is listed twice")
        seen.add(a.id)
        try:
            arn = role_arn(a.id, a.role)
        except ValueError as exc:
            raise ConfigError(f"{path}: account.{i}.role: {exc}") from exc
        out.append(AccountTarget(a.id, arn, a.name, a.external_id, tuple(a.regions)))
    return out
