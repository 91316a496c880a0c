"""Alembic environment. The bot migrates itself at start and hands its connection over; operators
may also run `alembic -x url=sqlite+aiosqlite:///./data/mailbox.db upgrade head` (alembic.ini)."""

import asyncio

from alembic import context

from models.tables import Base

target_metadata = Base.metadata


def _run_on(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    from models.db import create_engine

    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(_run_on)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run_on(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    asyncio.run(_run_standalone(url))
