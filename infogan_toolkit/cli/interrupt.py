"""What every command does on Ctrl-C before it handles it itself: one line and the shell's status."""

INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
INTERRUPTED_MESSAGE = "error: interrupted (Ctrl-C) before the command finished; nothing was trained, run it again\n"
