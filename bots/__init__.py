"""The ways in: the command line, the HTTP API with its web page, and the Telegram bot."""
