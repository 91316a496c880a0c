"""Tables, sessions, and the domain rules on them. Nothing in here knows about Telegram."""
