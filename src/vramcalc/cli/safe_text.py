"""Text from files and servers reaches the terminal inert: control characters shown as escapes, never executed.

Tensor names, dtypes, model types, GGUF metadata, format notes and Hub answers are written by strangers. An escape
sequence among them could clear the screen, retitle the window or hide text; rich markup among them could restyle
or crash the renderer (consoles here have markup off). JSON output keeps every string exact.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls; and the Unicode bidi overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """`text` with every control character replaced by its visible escape (ESC → "\\x1b")."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
