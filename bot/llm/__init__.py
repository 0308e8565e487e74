"""Shared LLM infrastructure: the OpenAI-compatible client, token counting and prompt
files. Used by summarize, follow-ups and briefings alike."""
