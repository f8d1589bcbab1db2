"""The equity report as printable HTML: the tool's markdown rendered, its charts embedded."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from markdown_it import MarkdownIt

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
@page {{ size: A4; margin: 18mm; }}
body {{ font-family: system-ui, sans-serif; max-width: 52em; margin: 2em auto; color: #222;
       line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #bbb; padding: .25em .6em; text-align: left; }}
figure {{ break-inside: avoid; margin: 1.5em 0; }}
img {{ max-width: 100%; }}
footer {{ color: #666; font-size: .85em; margin-top: 2em; }}
</style></head>
<body>
{body}
{figures}
<footer>Model v{model_version}; data built {data_timestamp}.</footer>
</body></html>
"""


def report_html(markdown: str, charts: list[str], model_version: str, data_timestamp: str) -> str:
    body = MarkdownIt("commonmark").enable("table").render(markdown)
    figures = "\n".join(_figure(Path(p)) for p in charts if Path(p).is_file())
    return PAGE.format(
        title="SARA equity summary",
        body=body,
        figures=figures,
        model_version=html.escape(model_version),
        data_timestamp=html.escape(data_timestamp),
    )


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = html.escape(path.stem.replace("_", " "))
    return (
        f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )
