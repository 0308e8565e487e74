"""digestbot: an Arabic/English news-digest bot for Telegram."""

__version__ = "0.1.0"
