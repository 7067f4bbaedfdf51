"""Delivery of the notifications outbox to people's channels (MQTT, webhooks).

See docs/notifications.md. The pure parts (``retry``, ``signing``, ``text``,
``channels``) need no services; ``outbox`` is the SQL, ``senders`` the I/O and
``worker`` the thin loop that joins them.
"""
