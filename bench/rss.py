"""`python -m bench.rss DATABASE_URL`: run the bot, have an admin ask for /report, print the peak
resident memory of this process in MB (the last line)."""

from __future__ import annotations

import asyncio
import resource
import sys
from pathlib import Path

from bench.run import ADMIN, settings_for
from bot.app import build_application, running
from bot.telegram_stand_in import TelegramStandIn


async def main(url: str) -> None:
    api = TelegramStandIn()
    await api.start()
    app = build_application(settings_for(api, url))
    async with running(app):
        admin = api.person(ADMIN, "王主任")
        admin.send("/report")
        kinds = set()
        while kinds != {"message", "document", "photo"}:
            kinds.add((await admin.receive(timeout=120)).kind)
        await api.release_pollers()
    await api.stop()


def peak_rss_mb() -> float:
    """This process's own peak (VmHWM). Not ru_maxrss: Linux carries that over from the parent
    through fork and exec, so a child of the bench (which holds a million generated letters)
    would report the bench's size rather than the bot's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # elsewhere: the best there is


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    print(peak_rss_mb())
