"""TELEGRAM_PROXY: for networks that cannot reach Telegram, every Bot API call (long polling and
files included) goes through the proxy. A minimal SOCKS5 relay on loopback stands for the
county's proxy, and the test proves the bot's traffic went through it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct

import pytest

from bot.app import build_application, running
from tests.conftest import make_settings


class Socks5Relay:
    """RFC 1928, no authentication, CONNECT only: enough for httpx's SOCKS5 client."""

    def __init__(self):
        self.connections: list[tuple[str, int]] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())
        try:
            version, methods = await reader.readexactly(2)
            await reader.readexactly(methods)
            assert version == 5
            writer.write(b"\x05\x00")  # no authentication
            _, command, _, kind = await reader.readexactly(4)
            if kind == 1:
                host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
            elif kind == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            else:
                host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
            (port,) = struct.unpack("!H", await reader.readexactly(2))
            assert command == 1, "CONNECT only"
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
            self.connections.append((host, port))
            writer.write(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._tasks.discard(asyncio.current_task())

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        with contextlib.suppress(OSError):
            sink.close()


@pytest.fixture
async def relay():
    proxy = Socks5Relay()
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_every_bot_api_call_goes_through_a_socks5_proxy(stand_in, relay, tmp_path):
    settings = make_settings(
        stand_in, f"sqlite+aiosqlite:///{tmp_path}/mailbox.db", telegram_proxy=f"socks5://127.0.0.1:{relay.port}"
    )
    application = build_application(settings)
    stand_in_port = int(stand_in.base_url.split(":")[2].split("/")[0])
    async with running(application):
        person = stand_in.person(5101, "李梅")
        person.send("/start")
        answer = await person.receive()
        assert "邀请" in answer.text  # a stranger learns how to join: the round trip worked
        await stand_in.release_pollers()
    assert relay.connections and all(target == ("127.0.0.1", stand_in_port) for target in relay.connections)
    assert {method for method, _ in stand_in.calls} >= {"getMe", "getUpdates", "sendMessage"}


async def test_the_invite_verb_asks_telegram_through_the_proxy_too(stand_in, relay, tmp_path):
    from bot.cli import _bot_username

    settings = make_settings(
        stand_in, f"sqlite+aiosqlite:///{tmp_path}/mailbox.db", telegram_proxy=f"socks5://127.0.0.1:{relay.port}"
    )
    assert await _bot_username(settings) == stand_in.bot_user["username"]
    assert relay.connections
