"""ZeroMQ output: the message schema, the publisher, subscribers, the broker and CURVE keys."""
