"""What the bot sent to which chat, so task messages can be edited in place."""
