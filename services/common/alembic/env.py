"""Alembic environment shared by every service; the service comes from the config's attributes."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.common.migrations import metadata_of, version_table
from services.common.timestamps import UtcDateTime

config = context.config
service = config.attributes["service"]
url = config.attributes["url"]
target_metadata = metadata_of(service)


def _render_item(type_, obj, autogen_context):
    """Generated revisions spell the kernel's UTC column as the plain type underneath it."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure_and_run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table(service),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_object=lambda obj, name, type_, reflected, compare_to: not (
            type_ == "table" and name.startswith("alembic_version_")),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run() -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as conn:
        await conn.run_sync(_configure_and_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      version_table=version_table(service))
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run())
