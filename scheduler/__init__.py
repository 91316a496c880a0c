"""Deadline calendar, reminder sweeps and delivery (built on PTB's JobQueue)."""
