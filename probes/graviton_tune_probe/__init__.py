"""graviton-tune's measuring side: runs inside the user's PyTorch environment."""
