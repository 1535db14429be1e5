"""Developer tools that ship with the bot (the docs' chart gallery)."""
