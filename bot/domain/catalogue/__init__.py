"""The catalogue, one part per feature; `bot.domain.commands` assembles the parts."""
