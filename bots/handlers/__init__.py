"""Update handlers of the inspector bot, one router per module."""
