"""Grounding: is a written sentence supported by the article it claims to come from?

Shared below both features: digests (bot.summarize) and follow-up answers
(bot.followups) check what a model wrote with the same parts. `evidence` numbers an
article's sentences and checks a point against the sentences it cites; `guards` checks
numbers and the reply's language; `names` matches proper names across scripts;
`stopwords` holds the function words both the checks and the offline summary skip.
Pure functions, no I/O; imports nothing above bot.ingest.
"""
