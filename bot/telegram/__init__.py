"""The Telegram transport: python-telegram-bot's Application around the Conversation.

We opt in to PTB's timedelta durations (`PTB_TIMEDELTA`): without it, merely
constructing a `RetryAfter` emits a PTBDeprecationWarning (an error under our tests).
"""

import os

os.environ.setdefault("PTB_TIMEDELTA", "true")
