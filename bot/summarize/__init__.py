"""Summarize: article in, faithful Arabic or English digest out (LLM or extractive)."""
