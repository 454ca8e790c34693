"""Administration commands of the gateway, for whoever installs the platform.

    python -m gateway.admin create-admin --email admin@mi-municipio.bo --name "Administración"

creates an administrator account (the first one, on a fresh production installation, where the
demo world is never loaded). The password comes from `MC_ADMIN_PASSWORD` when set (for scripted
installs), else it is asked twice at the prompt; it needs at least 12 characters. The database is
the gateway's (`GATEWAY_DATABASE_URL`), already migrated (`python -m services.common.migrations upgrade`).
"""

import argparse
import asyncio
import getpass
import os
import sys

from gateway.accounts import make_password_hasher, normalize_email, normalize_phone, register_account
from gateway.models import Account
from gateway.settings import Settings
from services.common.auth import Principal, Role
from services.common.db import Database
from services.common.errors import DomainError

PASSWORD_ENV = "MC_ADMIN_PASSWORD"
MIN_ADMIN_PASSWORD = 12
# who creates the account: the person at the server's console, with an administrator's powers
CONSOLE = Principal(account_id=0, role=Role.admin, name="gateway.admin create-admin")


class AdminCommandError(Exception):
    """What the person at the console must fix; printed, exit status 2."""


async def create_admin(*, db: Database, settings: Settings, name: str, password: str,
                       email: str | None = None, phone: str | None = None) -> Account:
    if len(password) < MIN_ADMIN_PASSWORD:
        raise AdminCommandError(f"an administrator's password needs at least {MIN_ADMIN_PASSWORD} characters")
    try:
        email = normalize_email(email) if email else None
        phone = normalize_phone(phone) if phone else None
    except ValueError as exc:
        raise AdminCommandError(str(exc)) from None
    hasher = make_password_hasher(time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib,
                                  parallelism=settings.password_parallelism)
    try:
        async with db.session() as session:
            return await register_account(session=session, hasher=hasher, name=name, password=password,
                                          role=Role.admin, phone=phone, email=email, actor=CONSOLE)
    except DomainError as exc:
        raise AdminCommandError(exc.message) from None


def read_password(*, environ=os.environ, prompt=getpass.getpass) -> str:
    given = environ.get(PASSWORD_ENV)
    if given:
        return given
    if not sys.stdin.isatty():
        raise AdminCommandError(f"no terminal to ask the password at: set {PASSWORD_ENV}")
    first = prompt("Contraseña del administrador: ")
    if prompt("Repita la contraseña: ") != first:
        raise AdminCommandError("the two passwords differ")
    return first


async def _create(args, settings: Settings) -> Account:
    db = Database.from_url(settings.database_url)
    try:
        return await create_admin(db=db, settings=settings, name=args.name, password=read_password(),
                                  email=args.email, phone=args.phone)
    finally:
        await db.dispose()


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-admin", help="create an administrator account")
    create.add_argument("--email", help="e-mail to log in with")
    create.add_argument("--phone", help="phone number to log in with")
    create.add_argument("--name", default="Administración Mercado Corto")
    args = parser.parse_args(argv)
    if not args.email and not args.phone:
        parser.error("give --email or --phone to log in with")
    try:
        account = asyncio.run(_create(args, settings or Settings()))
    except AdminCommandError as exc:
        print(f"create-admin: {exc}", file=sys.stderr)
        return 2
    print(f"administrator {account.id} created; log in with {account.email or account.phone}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
