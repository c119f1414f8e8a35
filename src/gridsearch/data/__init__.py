"""The data every trial shares: read once, labels encoded, split once."""
