"""Recording the input topics to a file and sending a recording back."""
