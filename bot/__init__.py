"""Leader Mailbox Bot: entry point, settings, app factory, CLI and HTTP intake."""
