"""The transactional outbox: messages committed with the state change that caused them."""
