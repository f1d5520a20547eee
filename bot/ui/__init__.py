"""What the features share to draw: embeds, views and buttons, charts, the rank card, text laid out."""
