"""``python -m somclust ...`` is the ``somclust`` command."""
from somclust.cli import console_main

console_main()
