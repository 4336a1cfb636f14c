"""The job contract shared by both tiers: types, the message envelope, the queue client and
the outbox. The web tier enqueues through it without importing worker code."""
