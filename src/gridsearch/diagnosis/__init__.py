"""Reading a training history: labels, causes and advice. Plain numpy; depends on nothing of ours but errors."""
