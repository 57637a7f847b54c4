"""Cost estimates before a run (``agentark plan``): model shapes (``shapes``), GPU time and memory of
generation and training from this project's measurements (``costs``), and what each stage of a
recipe does in tokens (``workload``). Pure arithmetic: nothing is downloaded, loaded or written."""
