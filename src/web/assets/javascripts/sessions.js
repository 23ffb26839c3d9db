/*
 * "Your sessions" on the main page: where the account is signed in
 * (GET /sessions), an "End" button for each (DELETE /sessions/<id>), and
 * "Log out everywhere" (POST /logout with all). Ending this device's
 * session, or all of them, leaves for the login page.
 */
(() => {
  'use strict';
  const { api, withBusy, sentence, $, el } = window.SSE;

  const when = (seconds) => (Number.isFinite(seconds)
    ? new Date(seconds * 1000).toLocaleString() : 'unknown');

  function describe(session) {
    const agent = session.user_agent || 'Unknown browser';
    const where = session.address || 'unknown address';
    return `${agent} — from ${where}, signed in ${when(session.created_at)}, last used ${when(session.last_seen)}`;
  }

  async function refresh() {
    const result = await api('/sessions');
    if (!result.ok) {
      $('sessions-error').textContent = sentence(result.reason);
      return;
    }
    $('sessions-error').textContent = '';
    const sessions = Array.isArray(result.data && result.data.sessions) ? result.data.sessions : [];
    // This device first, then the most recently used.
    sessions.sort((a, b) => (b.current - a.current) || (b.last_seen - a.last_seen));
    $('sessions-list').replaceChildren(...sessions.map(item));
  }

  function item(session) {
    const id = String(session.id);
    const end = el('button', {
      type: 'button', class: 'button secondary small', id: `session-end-${id}`,
      'data-testid': `session-end-${id}`, 'data-busy-label': 'Ending…',
      'aria-label': session.current ? 'End the session on this device' : 'End this session',
    }, 'End');
    end.addEventListener('click', () => endSession(session, end));
    const current = session.current
      ? el('span', { class: 'badge', id: `session-current-${id}`, 'data-testid': `session-current-${id}` }, 'This device')
      : null;
    return el('li', { id: `session-${id}`, 'data-testid': `session-${id}` },
      el('span', {}, describe(session)), ' ', current, ' ', end);
  }

  async function endSession(session, button) {
    if (button.disabled) return;
    const path = `/sessions/${encodeURIComponent(session.id)}`;
    const result = await withBusy(button, () => api(path, { method: 'DELETE' }));
    if (result.ok && result.data && result.data.current) {
      location.assign('/login');
      return;
    }
    if (!result.ok) $('sessions-error').textContent = sentence(result.reason);
    refresh();
  }

  $('logout-all-button').addEventListener('click', async (event) => {
    const button = event.currentTarget;
    if (button.disabled) return;
    const body = { all: 'true' };
    const result = await withBusy(button, () => api('/logout', { method: 'POST', body, authRedirect: false }));
    if (result.reason === 'network_error') {
      $('sessions-error').textContent = sentence(result.reason);
      return;
    }
    location.assign('/login');
  });

  document.addEventListener('DOMContentLoaded', refresh);
})();
