"""The Telegram bot (python-telegram-bot v22): handlers over the same QAService the API uses."""
