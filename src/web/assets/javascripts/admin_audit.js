/*
 * The audit trail's table on the admin part of the main page (GET /audit):
 * newest first, a page at a time; "Older" asks for the entries before the
 * oldest one shown (paging by id, so new entries never shift a page).
 * Inert unless the signed-in user has role "admin", like admin.js.
 */
(() => {
  'use strict';
  const { api, withBusy, sentence, $, el, state } = window.SSE;
  const PAGE = 20;

  let started = false;
  let oldest = null;

  function start(user) {
    if (started || !user || user.role !== 'admin') return;
    started = true;
    $('audit-refresh').addEventListener('click', () => withBusy($('audit-refresh'), () => load(null)));
    $('audit-older').addEventListener('click', () => withBusy($('audit-older'), () => load(oldest)));
    load(null);
  }

  /* The newest page (`before` null, replacing the table) or the one before `before`. */
  async function load(before) {
    const query = before === null ? `?limit=${PAGE}` : `?limit=${PAGE}&before=${before}`;
    const result = await api(`/audit${query}`);
    if (!result.ok) {
      $('audit-error').textContent = sentence(result.reason);
      return;
    }
    $('audit-error').textContent = '';
    const events = Array.isArray(result.data && result.data.events) ? result.data.events : [];
    const tbody = $('audit-tbody');
    if (before === null) tbody.replaceChildren();
    for (const event of events) tbody.append(row(event));
    if (events.length > 0) oldest = events[events.length - 1].id;
    $('audit-older').hidden = events.length < PAGE;
    $('audit-empty').hidden = tbody.rows.length > 0;
  }

  function row(event) {
    const cell = (text) => el('td', {}, text === null || text === undefined ? '' : String(text));
    const tr = el('tr', { id: `audit-row-${event.id}`, 'data-testid': `audit-row-${event.id}` },
      cell(new Date(event.at_ms).toLocaleString()),
      cell(event.actor), cell(event.action), cell(event.target), cell(event.address), cell(event.outcome));
    tr.dataset.action = String(event.action);
    tr.classList.toggle('refused', event.outcome !== 'ok');
    return tr;
  }

  document.addEventListener('sse:user', (event) => start(event.detail));
  start(state.user); // in case main.js already knew the user
})();
