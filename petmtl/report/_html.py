"""HTML of the report: one self-contained page whose every number comes from the JSON.

Every value shown is written by :class:`Page` as ``<span data-key="a/b/0/c"
data-format=".3f">`` from the report's JSON at that path, so the page can be checked
against the JSON; the static text holds no digits.
"""

from __future__ import annotations

import base64
import html

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1em 2em; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #1f77b4; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; }
th { background: #f3f6fa; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
.warning { background: #fff4e5; border-left: 4px solid #ff9800; padding: .5em 1em; }
.note { color: #555; font-size: .9em; }
.authors { color: #a33; white-space: nowrap; }
nav ul { columns: 2; }
"""


class Page:
    """Renders values of the report's JSON as tagged spans.

    Parameters
    ----------
    content : dict
        The report's JSON.
    """

    def __init__(self, content: dict):
        self.content = content

    def get(self, path):
        """The JSON value at ``path`` (a tuple of keys and indices)."""
        value = self.content
        for part in path:
            value = value[part]
        return value

    @staticmethod
    def _span(path, fmt: str, text: str) -> str:
        key = "/".join(str(p) for p in path)
        return (f'<span class="v" data-key="{html.escape(key)}" data-format="{fmt}">'
                f"{html.escape(text)}</span>")

    def num(self, path, fmt: str = ".3f") -> str:
        """A number (``n/a`` for None) in format ``fmt``."""
        value = self.get(path)
        return self._span(path, fmt, "n/a" if value is None else format(value, fmt))

    def txt(self, path) -> str:
        """A string value (``n/a`` for None)."""
        value = self.get(path)
        return self._span(path, "s", "n/a" if value is None else str(value))

    def auto(self, path) -> str:
        """A value in the format its type calls for (int, float or text)."""
        value = self.get(path)
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return self.txt(path)
        if isinstance(value, int):
            return self.num(path, "d")
        if isinstance(value, float):
            return self.num(path, ".4g")
        return self.txt(path)

    def ci(self, path, fmt: str = ".3f") -> str:
        """``estimate [low, high]`` of an interval dict at ``path``."""
        path = tuple(path)
        return (f"{self.num(path + ('estimate',), fmt)} [{self.num(path + ('low',), fmt)}, "
                f"{self.num(path + ('high',), fmt)}]")


def table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are HTML already."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(png: bytes | None, alt: str, caption: str) -> str:
    """An embedded PNG with its caption ('' when the figure is missing)."""
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def section(anchor: str, title: str, body: str) -> str:
    """A titled section."""
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>'


def document(title: str, sections: list[tuple[str, str, str]], intro: str) -> str:
    """The whole page: title, table of contents and sections ``(anchor, title, body)``."""
    toc = "".join(f'<li><a href="#{a}">{html.escape(t)}</a></li>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{intro}<nav><ul>{toc}</ul></nav>{body}"
            "</body></html>\n")
