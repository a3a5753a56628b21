"""The look the fake's pages share (the demo's cashier and its payee's confirmation)."""

# A page starts with HEAD, adds its own rules, then closes the style element itself.
HEAD = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }}</title>
<style>
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0;background:#ededed;color:#111}
main{max-width:28rem;margin:0 auto;padding:1.5rem}
.card{background:#fff;border-radius:.5rem;padding:1.25rem;margin-bottom:1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem;margin:0}
dt{color:#888}dd{margin:0;text-align:right;word-break:break-all}
.lang{float:right;font-size:.9rem}.note{color:#888;font-size:.85rem;text-align:center}
"""
