"""The browsers' assets: the built JS client at `/client.js` and the demo page at `/demo`.

`client.js` is the ES module built from clients/js (committed, so the Python package serves
it without npm); `demo.html` is a page built on it, served only when `GATEWAY_DEMO=1`.
"""
