/*
 * Admin part of the main page: counts and the users table with role editing,
 * last logins and the account actions. Always loaded; it stays inert unless
 * the signed-in user has role "admin" (the server checks the role again on
 * every admin request).
 */
(() => {
  'use strict';
  const { api, withBusy, sentence, $, el, state } = window.SSE;
  const ROLES = ['guest', 'parent', 'teacher', 'admin'];
  const USERS_REFRESH_MS = 30_000;

  /*
   * The account actions, one button each in a user's row, in this order.
   * Add one by adding an entry: `key` names its button (action-<key>-<id>),
   * `path(user)` and `method` its request, `confirm(user)` the question the
   * confirmation dialog asks (every action asks first), `done(data, user)`
   * what the row says after it worked (a string, or a Node), and `own: false`
   * hides it on the administrator's own row.
   */
  const ACTIONS = [
    {
      key: 'end-sessions', label: 'End sessions', method: 'POST',
      path: (user) => `/users/${user.id}/sessions/end`,
      confirm: (user) => `End every session of ${user.name}? They are logged out on every device.`,
      done: (data) => `Ended ${Number(data && data.sessions_ended) || 0} sessions`,
    },
    {
      key: 'reset-password', label: 'Reset link', method: 'POST',
      path: (user) => `/users/${user.id}/password_reset`,
      confirm: (user) => `Send ${user.name} a link to set a new password?`,
      done: (data, user) => resetDone(data, user),
      shown: (user) => !user.google_user,
    },
    {
      key: 'delete-user', label: 'Delete', method: 'DELETE', danger: true, own: false,
      path: (user) => `/users/${user.id}`,
      confirm: (user) => `Delete the account of ${user.name} (${user.email}) for good? Every session of it ends. This cannot be undone.`,
      done: () => { refreshUsers(); return 'Deleted'; },
    },
  ];

  // With mail off the server answers the link itself: show it to pass on.
  function resetDone(data, user) {
    if (data && data.mailed) return 'Reset link mailed';
    const link = el('input', {
      type: 'text', readonly: true, class: 'reset-link', id: `reset-link-${user.id}`,
      'data-testid': `reset-link-${user.id}`, 'aria-label': `Reset link for ${user.name}`,
      value: String((data && data.link) || ''),
    });
    return el('span', {}, 'Pass this link on (works once): ', link);
  }

  /* The confirmation dialog: resolves true for "Confirm", false otherwise. */
  function confirmAction(text, label) {
    const dialog = $('confirm-dialog');
    $('confirm-text').textContent = text;
    $('confirm-ok-button').textContent = label;
    dialog.returnValue = '';
    dialog.showModal();
    $('confirm-cancel-button').focus();
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    });
  }

  async function runAction(action, row, button) {
    if (button.disabled) return;
    const user = JSON.parse(row.dataset.user);
    const status = row.querySelector('.action-status');
    if (!await confirmAction(action.confirm(user), action.label)) return;
    status.replaceChildren();
    const result = await withBusy(button, () => api(action.path(user), { method: action.method }));
    if (result.ok) {
      status.className = 'action-status success';
      status.replaceChildren(action.done(result.data, user));
    } else {
      status.className = 'action-status error';
      status.textContent = sentence(result.reason);
    }
  }

  function actionCell(user) {
    const own = state.user && state.user.id === user.id;
    const buttons = ACTIONS
      .filter((action) => !(own && action.own === false) && (!action.shown || action.shown(user)))
      .map((action) => {
        const id = `action-${action.key}-${user.id}`;
        const kind = action.danger ? 'danger' : 'secondary';
        return el('button', {
          type: 'button', class: `button ${kind} small`, id, 'data-testid': id,
          'data-busy-label': `${action.label}…`, 'data-action': action.key,
        }, action.label);
      });
    const status = el('span', {
      id: `action-status-${user.id}`, 'data-testid': `action-status-${user.id}`,
      class: 'action-status', role: 'status',
    });
    return el('td', { class: 'cell-admin-actions' }, ...buttons, status);
  }

  let started = false;
  let usersLoading = false;

  function start(user) {
    if (started || !user || user.role !== 'admin') return;
    started = true;
    $('admin-section').hidden = false;
    showModuleCount(state.moduleCount);
    $('user-search').addEventListener('input', applyFilter);
    refreshUsers();
    setInterval(() => { if (!document.hidden) refreshUsers(); }, USERS_REFRESH_MS);
  }

  function showModuleCount(count) {
    if (started && typeof count === 'number') $('module-count').textContent = String(count);
  }

  async function refreshUsers() {
    if (usersLoading) return;
    usersLoading = true;
    try {
      const result = await api('/users');
      if (!result.ok) {
        $('users-error').textContent = sentence(result.reason);
        return;
      }
      $('users-error').textContent = '';
      const users = Array.isArray(result.data && result.data.user_list) ? result.data.user_list : [];
      $('user-count').textContent = String(users.length);
      reconcile(users);
      applyFilter();
    } finally {
      usersLoading = false;
    }
  }

  /*
   * Updates the table in place instead of rebuilding it: rows are never
   * moved or replaced needlessly, so focus, a role chosen but not yet saved,
   * and the last "Saved"/error message survive the periodic refresh.
   */
  function reconcile(users) {
    const tbody = $('users-tbody');
    const wanted = new Set(users.map((user) => String(user.id)));
    for (const row of [...tbody.rows]) {
      if (!wanted.has(row.dataset.userId)) row.remove();
    }
    const sorted = users.slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
    sorted.forEach((user, index) => {
      let row = $(`user-row-${user.id}`);
      if (row) updateRow(row, user);
      else row = buildRow(user);
      if (tbody.rows[index] !== row) tbody.insertBefore(row, tbody.rows[index] || null);
    });
  }

  function roleOptions(select, role) {
    // Show a role the page does not know rather than silently changing it.
    const roles = ROLES.includes(role) ? ROLES : [...ROLES, role];
    for (const value of roles) {
      if (![...select.options].some((option) => option.value === value)) {
        select.append(el('option', { value }, value));
      }
    }
  }

  function buildRow(user) {
    const id = user.id;
    const select = el('select', { id: `role-select-${id}`, 'data-testid': `role-select-${id}` });
    const label = el('label', { for: `role-select-${id}`, class: 'visually-hidden' }, `Role for ${user.name}`);
    const save = el('button', {
      type: 'button', class: 'button secondary small', id: `role-save-${id}`,
      'data-testid': `role-save-${id}`, 'data-busy-label': 'Saving…',
    }, 'Save');
    const status = el('span', { id: `role-status-${id}`, 'data-testid': `role-status-${id}`, class: 'row-status role-status', role: 'status' });
    const actions = actionCell(user);
    const row = el('tr', { id: `user-row-${id}`, 'data-testid': `user-row-${id}` },
      el('td', { class: 'cell-name' }),
      el('td', { class: 'cell-email' }),
      el('td', {}, label, select),
      el('td', { class: 'cell-google' }),
      el('td', { class: 'cell-last-login', id: `last-login-${id}`, 'data-testid': `last-login-${id}` }),
      el('td', { class: 'cell-actions' }, save, status),
      actions);
    row.dataset.userId = String(id);

    select.addEventListener('change', () => setStatus(status, '', null));
    save.addEventListener('click', () => saveRole(row));
    for (const button of actions.querySelectorAll('button[data-action]')) {
      const action = ACTIONS.find((a) => a.key === button.dataset.action);
      button.addEventListener('click', () => runAction(action, row, button));
    }
    addTotpReset(row, user);
    updateRow(row, user, { force: true });
    return row;
  }

  /*
   * Two-factor reset: after the row's role controls (which stay its first
   * button and status), a button that removes the user's second factor,
   * for a lost phone, after a confirmation.
   */
  function addTotpReset(row, user) {
    const id = user.id;
    const reset = el('button', {
      type: 'button', class: 'button secondary small', id: `totp-reset-${id}`,
      'data-testid': `totp-reset-${id}`, 'data-busy-label': 'Resetting…',
    }, 'Reset 2FA');
    const status = el('span', {
      id: `totp-reset-status-${id}`, 'data-testid': `totp-reset-status-${id}`, class: 'totp-reset-status', role: 'status',
    });
    row.querySelector('.cell-actions').append(' ', reset, status);
    reset.addEventListener('click', async () => {
      if (reset.disabled) return;
      const name = row.dataset.userName;
      if (!window.confirm(`Remove the two-factor sign-in of ${name}? Their next login asks for the password only (or to enrol again, if their role requires it).`)) return;
      setStatus(status, '', null);
      const result = await withBusy(reset, () => api('/users/totp/reset', { method: 'POST', body: { user_id: String(id) } }));
      if (!result.ok) {
        setStatus(status, sentence(result.reason), 'error');
        return;
      }
      setStatus(status, result.data && result.data.removed ? 'Two-factor sign-in removed' : 'Had no two-factor sign-in', 'success');
    });
  }

  function updateRow(row, user, { force = false } = {}) {
    const select = row.querySelector('select');
    const save = row.querySelector('.cell-actions button');
    // Someone is choosing a role in this row: leave their choice alone.
    const editing = !force && (select.value !== row.dataset.savedRole
      || document.activeElement === select || save.disabled);

    row.dataset.userName = user.name;
    row.dataset.user = JSON.stringify({
      id: user.id, name: user.name, email: user.email, google_user: user.google_user,
    });
    row.dataset.savedRole = user.role;
    row.querySelector('.cell-last-login').textContent = Number.isFinite(user.last_login)
      ? new Date(user.last_login * 1000).toLocaleString() : 'Never';
    row.querySelector('.cell-name').textContent = user.name;
    row.querySelector('.cell-email').textContent = user.email;
    row.querySelector('.cell-google').textContent = user.google_user ? 'Yes' : 'No';
    row.querySelector('label').textContent = `Role for ${user.name}`;
    roleOptions(select, user.role);
    if (!editing) select.value = user.role;
    verifyControl(row, user);
  }

  /* Email verification: an unconfirmed account gets a "Mark verified" button. */
  function verifyControl(row, user) {
    const button = row.querySelector('.verify-user');
    if (user.verified !== false) {
      if (button) button.remove();
      return;
    }
    if (button) return;
    const id = user.id;
    const verify = el('button', {
      type: 'button', class: 'button secondary small verify-user', id: `verify-user-${id}`,
      'data-testid': `verify-user-${id}`, 'data-busy-label': 'Saving…',
    }, 'Mark verified');
    verify.addEventListener('click', () => markVerified(row, verify));
    row.querySelector('.cell-actions').append(verify);
  }

  async function markVerified(row, button) {
    if (button.disabled) return;
    const question = `Mark the email address of ${row.dataset.userName} as verified? They can then log in without the mailed link.`;
    if (!window.confirm(question)) return;
    const status = row.querySelector('.row-status');
    const body = { user_id: Number(row.dataset.userId) };
    const result = await withBusy(button, () => api('/users/verify', { method: 'POST', body }));
    if (result.ok) {
      button.remove();
      setStatus(status, 'Verified', 'success');
    } else {
      setStatus(status, sentence(result.reason), 'error');
    }
  }

  function setStatus(status, text, kind) {
    status.textContent = text;
    status.classList.toggle('success', kind === 'success');
    status.classList.toggle('error', kind === 'error');
  }

  async function saveRole(row) {
    const select = row.querySelector('select');
    const save = row.querySelector('.cell-actions button');
    const status = row.querySelector('.role-status');
    if (save.disabled) return;
    setStatus(status, '', null);
    const role = select.value;
    const body = { user_name: row.dataset.userName, role };
    const result = await withBusy(save, () => api('/roles', { method: 'POST', body }));
    if (result.ok) {
      row.dataset.savedRole = role;
      setStatus(status, 'Saved', 'success');
    } else {
      setStatus(status, sentence(result.reason), 'error');
    }
  }

  function applyFilter() {
    const needle = $('user-search').value.trim().toLowerCase();
    const rows = [...$('users-tbody').rows];
    let visible = 0;
    for (const row of rows) {
      const haystack = [row.dataset.userName, row.querySelector('.cell-email').textContent, row.dataset.savedRole]
        .join(' ').toLowerCase();
      row.hidden = needle !== '' && !haystack.includes(needle);
      if (!row.hidden) visible += 1;
    }
    const empty = $('users-empty');
    empty.textContent = rows.length === 0 ? 'There are no users yet.' : 'No users match your search.';
    empty.hidden = visible > 0;
  }

  document.addEventListener('sse:user', (event) => start(event.detail));
  document.addEventListener('sse:modules', (event) => showModuleCount(event.detail.count));
  start(state.user); // in case main.js already knew the user
})();
