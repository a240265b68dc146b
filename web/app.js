// The web client: log in over the auth API, then one WebSocket to /ws carrying the token
// as a `bearer.<token>` subprotocol beside `chat.v1` (never in the URL, so it reaches no
// log). Tokens live in memory only. No inline script: the page runs under a strict CSP.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  /** Closes after which the page does not reconnect, whatever the reason (see onClose). */
  const TERMINAL_CODES = [1003, 1007, 1009];
  const state = {
    user: null,
    access: null,
    refresh: null,
    refreshTimer: null,
    socket: null,
    retryMs: 500,
    rooms: new Map(), // room -> id of the last message seen, for `since` on reconnect
    current: null,
    stopped: true,
  };

  function showError(text) {
    $('error').textContent = text || '';
  }

  function addLine(text, meta, system) {
    const item = document.createElement('li');
    if (system) item.className = 'system';
    if (meta) {
      const span = document.createElement('span');
      span.className = 'meta';
      span.textContent = meta;
      item.append(span);
    }
    item.append(document.createTextNode(text));
    const list = $('messages');
    list.append(item);
    list.scrollTop = list.scrollHeight;
  }

  async function api(path, body, token) {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(path, {
      method: 'POST',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.message || `request failed (${res.status})`);
    return data;
  }

  function keepTokens(tokens) {
    state.access = tokens.access_token;
    state.refresh = tokens.refresh_token;
    clearTimeout(state.refreshTimer);
    // Refresh a little before the access token expires; the socket is told the new one.
    const inMs = Math.max(5, tokens.expires_in - 30) * 1000;
    state.refreshTimer = setTimeout(refreshTokens, inMs);
  }

  async function refreshTokens() {
    try {
      keepTokens(await api('/auth/refresh', { refresh_token: state.refresh }));
      send({ type: 'refresh_token', token: state.access });
    } catch (err) {
      showError(`session ended: ${err.message}`);
      stop();
    }
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/ws`, ['chat.v1', `bearer.${state.access}`]);
    state.socket = socket;
    socket.addEventListener('message', (event) => onFrame(JSON.parse(event.data)));
    socket.addEventListener('close', (event) => onClose(socket, event));
  }

  function onFrame(frame) {
    switch (frame.type) {
      case 'welcome':
        state.retryMs = 500;
        $('status').textContent = `${frame.user} on node ${frame.node}`;
        for (const [room, since] of state.rooms)
          send(since ? { type: 'join', room, since } : { type: 'join', room });
        break;
      case 'joined':
        addLine(`joined #${frame.room} (${(frame.members || []).join(', ')})`, null, true);
        break;
      case 'left':
        addLine(`left #${frame.room}`, null, true);
        break;
      case 'message':
        state.rooms.set(frame.room, frame.id);
        addLine(frame.text, `${new Date(frame.ts).toLocaleTimeString()} #${frame.room} ${frame.from}`);
        break;
      case 'presence':
        addLine(`${frame.user} is ${frame.state} in #${frame.room}`, null, true);
        break;
      case 'error':
        showError(frame.message);
        break;
      default:
        break;
    }
  }

  function onClose(socket, event) {
    if (socket !== state.socket || state.stopped) return;
    // As docs/PROTOCOL.md's close table says: 1008 (but an expired token) ends the session,
    // and 1003, 1007 and 1009 answer something this page should never send again.
    const terminal =
      (event.code === 1008 && event.reason !== 'token_expired') || TERMINAL_CODES.includes(event.code);
    if (terminal) {
      showError(`disconnected: ${event.reason || (event.code === 1008 ? 'policy' : `close ${event.code}`)}`);
      stop();
      return;
    }
    $('status').textContent = 'reconnecting…';
    const delay = state.retryMs * (0.5 + Math.random());
    state.retryMs = Math.min(state.retryMs * 2, 15000);
    setTimeout(async () => {
      if (state.stopped) return;
      if (event.reason === 'token_expired') await refreshTokens();
      if (!state.stopped) connect();
    }, delay);
  }

  function stop() {
    state.stopped = true;
    clearTimeout(state.refreshTimer);
    if (state.socket) state.socket.close(1000);
    state.socket = null;
    state.rooms.clear();
    $('chat').hidden = true;
    $('login').hidden = false;
  }

  $('login').addEventListener('submit', async (event) => {
    event.preventDefault();
    showError('');
    const form = new FormData(event.target);
    const credentials = { username: form.get('username'), password: form.get('password') };
    try {
      if (event.submitter && event.submitter.value === 'register') await api('/auth/register', credentials);
      keepTokens(await api('/auth/login', credentials));
      state.user = credentials.username;
      state.stopped = false;
      event.target.reset();
      $('login').hidden = true;
      $('chat').hidden = false;
      connect();
    } catch (err) {
      showError(err.message);
    }
  });

  $('join').addEventListener('submit', (event) => {
    event.preventDefault();
    const room = new FormData(event.target).get('room');
    if (!state.rooms.has(room)) state.rooms.set(room, null);
    state.current = room;
    send({ type: 'join', room });
  });

  $('send').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = event.target.elements.text;
    if (!state.current) {
      showError('join a room first');
      return;
    }
    if (send({ type: 'send', room: state.current, text: input.value })) input.value = '';
  });

  $('logout').addEventListener('click', async () => {
    const token = state.access;
    stop();
    try {
      await api('/auth/logout', undefined, token);
    } catch {
      // The tokens expire on their own; the socket is already closed.
    }
  });
})();
