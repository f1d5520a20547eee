"""The sandbox's driver: the stand-in, a demo guild and the real bot wired together, the prompt and `serve`."""
