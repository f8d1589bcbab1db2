"""How the chat page looks: its stylesheet and the student card's (scoped to the card)."""

PAGE_CSS = """
#sara-header h1 { font-size: 1.45rem; font-weight: 600; margin: 0; }
#sara-header p { margin: 2px 0 0; color: var(--body-text-color-subdued); }
#sara-status { text-align: right; }
#sara-chat table { font-size: 0.9em; }
#sara-chat td:first-child { white-space: nowrap; }
#sara-examples button, #sara-follow-ups button {
  font-weight: 400; text-align: left; justify-content: flex-start; }
#sara-try { margin-bottom: -8px; }
#sara-hint, #sara-note { color: var(--body-text-color-subdued); font-size: 0.9em; }
"""

CARD_CSS = """
.card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 14px 16px;
        background: var(--block-background-fill); color: var(--body-text-color); }
.head { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
.sid { font-size: 1.15em; font-weight: 600; font-family: var(--font-mono); }
.badge { border-radius: 999px; padding: 2px 10px; font-size: 0.85em; font-weight: 600; }
.badge.high { background: #fde2e1; color: #a61b1b; }
.badge.medium { background: #fdf0c8; color: #8a5300; }
.badge.low { background: #dcf3e3; color: #1d6b3a; }
.badge.other { background: #e8e8e8; color: #444; }
.score { margin: 10px 0 4px; display: flex; align-items: baseline; gap: 8px; }
.pct { font-size: 1.9em; font-weight: 700; line-height: 1; }
.caption { color: var(--body-text-color-subdued); font-size: 0.85em; }
.meter { height: 6px; border-radius: 3px; overflow: hidden;
         background: var(--border-color-primary); }
.fill { height: 100%; }
.fill.high { background: #c0392b; } .fill.medium { background: #d68a00; }
.fill.low { background: #2e8b57; } .fill.other { background: #888; }
h4 { margin: 14px 0 6px; font-size: 0.8em; text-transform: uppercase; letter-spacing: 0.04em;
     color: var(--body-text-color-subdued); }
ul { margin: 0; padding-left: 1.2em; }
li { margin: 2px 0; }
.whatif { margin: 0; padding: 8px 10px; border-left: 3px solid #4f6fb0; border-radius: 4px;
          background: var(--background-fill-secondary); font-size: 0.92em; }
"""
