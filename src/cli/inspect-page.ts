/**
 * `shootdown run --inspect`, the bridge page (inspect.ts): it embeds Stately's hosted inspector UI and passes it
 * the events its WebSocket pushes; its content security policy allows only that.
 */
export const STATELY_UI = 'https://stately.ai/inspect';

export const BRIDGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>shootdown · Stately inspector</title>
<style>html, body { height: 100%; margin: 0; } iframe { width: 100%; height: 100%; border: none; display: block; }</style>
</head>
<body>
<iframe id="inspector" src="${STATELY_UI}"></iframe>
<script src="bridge.js"></script>
</body>
</html>
`;

// Events wait until the embedded UI says it listens; only messages from that frame count.
export const BRIDGE_JS = `'use strict';
const frame = document.getElementById('inspector');
const waiting = [];
let connected = false;
// The run's events go to Stately's origin only: whatever the frame shows, nothing else can read them.
const UI_ORIGIN = 'https://stately.ai';
window.addEventListener('message', (e) => {
  if (e.source !== frame.contentWindow || e.origin !== UI_ORIGIN || !e.data || e.data.type !== '@statelyai.connected') return;
  connected = true;
  for (const event of waiting.splice(0)) frame.contentWindow.postMessage(event, UI_ORIGIN);
});
const socket = new WebSocket('ws://' + location.host + '/');
socket.onmessage = (m) => {
  const event = JSON.parse(m.data);
  if (connected) frame.contentWindow.postMessage(event, UI_ORIGIN);
  else waiting.push(event);
};
`;

export function bridgeCsp(host: string): string {
  return `default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; frame-src https://stately.ai; connect-src 'self' ws://${host}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;
}
