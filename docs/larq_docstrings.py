"""A griffe extension for the docs site: reads keras_bnn's larq-style docstrings.

keras_bnn writes its docstrings as larq does, with Markdown headings for the sections
(`# Arguments`, `# Returns`, `# Raises`, ...). mkdocstrings parses Google-style sections
(`Args:`, `Returns:`, ...) into tables; this extension renames the headings so that it
does, leaving everything else as written.
"""

import re

import griffe

# larq's section headings and the Google-style titles mkdocstrings knows them by.
SECTIONS = {"Arguments": "Args", "Returns": "Returns", "Raises": "Raises",
            "Attributes": "Attributes", "Yields": "Yields", "Example": "Examples",
            "Examples": "Examples", "References": "References"}
_HEADING = re.compile(r"^# (" + "|".join(SECTIONS) + r")\s*$", re.MULTILINE)


def google_style(text: str) -> str:
    """`text` with each larq section heading `# Name` turned into `Title:`."""
    return _HEADING.sub(lambda match: f"{SECTIONS[match[1]]}:", text)


class LarqDocstrings(griffe.Extension):
    """Rewrites the section headings of every docstring griffe reads."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = google_style(obj.docstring.value)
