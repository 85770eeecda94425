"""Work that runs itself: the task queue, the workers, the source locks (decision 0009)."""
