"""Show code and tables in a chapter."""
from __future__ import annotations

import inspect
import textwrap

__all__ = ["show_source"]


def show_source(obj, *, title: str | None = None):
    """Display the source code of a class or function from ``utils`` as a highlighted block.

    Chapters use it so the reader sees the mechanism they are taught, while the one
    implementation lives, tested, in ``utils``.
    """
    from IPython.display import Markdown

    if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj)):
        raise TypeError(f"show_source: expected a class or function, got {type(obj).__name__}")
    src = textwrap.dedent(inspect.getsource(obj))
    where = f"`{obj.__module__}.{obj.__qualname__}`"
    head = f"**{title}** ({where})\n\n" if title else f"{where}\n\n"
    return Markdown(head + "```python\n" + src.rstrip() + "\n```")
