"""Start the chat: `python app.py` is `qa serve` with its defaults (http://127.0.0.1:7860).

Options are passed through, e.g. `python app.py --port 8000 --index my-index`.
"""

from __future__ import annotations

import sys

from qa.surfaces.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]], prog_name="qa serve")
