"""qa: offline extractive question answering over news articles."""
